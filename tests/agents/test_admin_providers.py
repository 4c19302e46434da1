"""Providers in the admin: their live state on the list, their key's variable (never its
value), a test request from the list or the provider's page, and the form's checks."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents.models import Provider, Run, Step
from agents.provider_checks import (
    CHECK_MAX_TOKENS,
    CHECK_MESSAGES,
    ConnectionCheck,
    failure_words,
    provider_key_status,
    providers_health,
    providers_test,
)
from agents.providers import ProviderError, breaker_failure
from agents.simulator import SimulatorThread, simulated_reply

pytestmark = pytest.mark.django_db

UNREACHABLE = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there
CHANGELIST = "admin:agents_provider_changelist"


def a_provider(name: str, base_url: str = UNREACHABLE, **fields: Any) -> Provider:
    return Provider.objects.create(name=name, base_url=base_url, model="orion-sim-1", **fields)


def a_generate_step(provider: str, outcome: str, started_at: datetime) -> Step:
    run = Run.objects.create(started_at=started_at, outcome="complete", provider=provider)
    return Step.objects.create(run=run, position=0, name="generate", start_ms=3.0,
                               duration_ms=10.0, outcome=outcome,
                               detail={"provider": provider, "model": "m"})  # fmt: skip


def cell(page: str, column: str, row: int = 0) -> str:
    """The text of ``column`` in the ``row``-th line of the list."""
    found = re.findall(rf'<td class="field-{column}[^"]*">(.*?)</td>', page, re.S)
    return found[row].strip()


def sent_messages(response: Any) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


# --- the list ------------------------------------------------------------------------------


def test_the_list_shows_the_breaker_in_words(admin_client: Client) -> None:
    for name in ("alpha", "beta", "gamma"):
        a_provider(name, priority={"alpha": 1, "beta": 2, "gamma": 3}[name])
    for _ in range(settings.ORION_BREAKER_FAILURES):
        breaker_failure("beta")
    long_ago = time.time() - settings.ORION_BREAKER_COOLDOWN_SECONDS - 1
    for _ in range(settings.ORION_BREAKER_FAILURES):
        breaker_failure("gamma", now=long_ago)
    breaker_failure("alpha")
    page = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert [cell(page, "breaker", i) for i in range(3)] == [
        "closed, 1 recent failure(s)", "open", "half-open",
    ]  # fmt: skip


def test_the_list_shows_the_last_error_and_the_failures_of_the_last_hour(
    admin_client: Client,
) -> None:
    now = timezone.now()
    a_provider("alpha", priority=1)
    a_provider("beta", priority=2)
    a_generate_step("alpha", "complete", now - timedelta(minutes=1))
    a_generate_step("beta", "timeout", now - timedelta(hours=3))  # outside the hour
    a_generate_step("beta", "unavailable", now - timedelta(minutes=10))
    a_generate_step("beta", "rate_limited", now - timedelta(minutes=20))
    a_generate_step("beta", "skipped", now - timedelta(minutes=5))  # its breaker was open
    page = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert cell(page, "last_error", 0) == "-"
    assert cell(page, "failures_last_hour", 0) == "0"
    assert cell(page, "last_error", 1).startswith("No connection could be made")
    assert "10\xa0minutes ago" in cell(page, "last_error", 1)
    assert cell(page, "failures_last_hour", 1) == "2"


def test_the_live_state_costs_the_same_queries_for_two_providers_or_ten(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    def queries_for_the_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(reverse(CHANGELIST)).status_code == 200
        return len(queries)

    now = timezone.now()
    for index in range(2):
        a_provider(f"p{index}")
        a_generate_step(f"p{index}", "timeout", now)
    few = queries_for_the_list()
    for index in range(2, 10):
        a_provider(f"p{index}")
        a_generate_step(f"p{index}", "timeout", now)
    assert queries_for_the_list() == few
    with django_assert_max_num_queries(10):
        admin_client.get(reverse(CHANGELIST))


def test_the_key_column_names_the_variable_and_never_shows_the_key(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-value")
    monkeypatch.delenv("OTHER_API_KEY", raising=False)
    a_provider("alpha", api_key_env="OPENAI_API_KEY", priority=1)
    a_provider("beta", api_key_env="OTHER_API_KEY", priority=2)
    local = a_provider("gamma", priority=3)
    page = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert [cell(page, "key", i) for i in range(3)] == [
        "OPENAI_API_KEY (set)", "OTHER_API_KEY — missing from the environment", "none needed",
    ]  # fmt: skip
    assert "sk-very-secret-value" not in page
    alpha = Provider.objects.get(name="alpha")
    for row in (alpha, local):
        change = admin_client.get(reverse("admin:agents_provider_change", args=[row.pk]))
        assert "sk-very-secret-value" not in change.content.decode()


# --- testing the connection ------------------------------------------------------------------


def test_the_action_tests_against_the_simulator_and_shows_answer_and_latency(
    admin_client: Client, simulator: SimulatorThread
) -> None:
    row = a_provider("sim", simulator.base_url)
    action = {"action": "test_connection", "_selected_action": [row.pk]}
    response = admin_client.post(reverse(CHANGELIST), action)
    assert response.status_code == 302
    ((level, text),) = sent_messages(response)
    answer = "".join(simulated_reply(CHECK_MESSAGES, CHECK_MAX_TOKENS)).strip()
    assert level == "success"
    assert re.fullmatch(rf"sim answered in \d+ ms: “{re.escape(answer)}”", text)
    entry = LogEntry.objects.get(object_id=str(row.pk))
    assert entry.change_message == f"Tested the connection: {text}"


def test_an_unreachable_provider_fails_in_words_and_the_test_is_recorded(
    admin_client: Client, simulator: SimulatorThread
) -> None:
    down = a_provider("down", priority=1)
    up = a_provider("up", simulator.base_url, priority=2)
    response = admin_client.post(reverse(CHANGELIST), {
        "action": "test_connection", "_selected_action": [down.pk, up.pk]})  # fmt: skip
    found = {text.split()[0]: (level, text) for level, text in sent_messages(response)}
    level, text = found["down"]
    assert level == "error"
    assert re.fullmatch(r"down failed after \d+ ms: No connection could be made: .*", text)
    assert found["up"][0] == "success"
    assert (
        LogEntry.objects.filter(object_id=str(down.pk))
        .get()
        .change_message.startswith("Tested the connection: down failed after")
    )


def test_the_providers_page_has_a_test_button_that_posts_and_comes_back(
    admin_client: Client, simulator: SimulatorThread
) -> None:
    row = a_provider("sim", simulator.base_url)
    url = reverse("admin:agents_provider_test_connection", args=[row.pk])
    page = admin_client.get(reverse("admin:agents_provider_change", args=[row.pk]))
    assert f'action="{url}"' in page.content.decode()
    assert admin_client.get(url).status_code == 405
    response = admin_client.post(url)
    assert response["Location"] == reverse("admin:agents_provider_change", args=[row.pk])
    assert sent_messages(response)[0][0] == "success"
    assert LogEntry.objects.filter(object_id=str(row.pk)).count() == 1


def test_staff_who_may_only_look_cannot_test_and_strangers_are_sent_to_log_in(
    staff: User,
) -> None:
    row = a_provider("sim")
    url = reverse("admin:agents_provider_test_connection", args=[row.pk])
    assert Client().post(url).status_code == 302
    staff.user_permissions.add(Permission.objects.get(codename="view_provider"))
    client = Client()
    client.force_login(staff)
    assert client.post(url).status_code == 403
    assert (
        client.post(reverse("admin:agents_provider_test_connection", args=[999])).status_code == 404
    )
    assert not LogEntry.objects.exists()


# --- the form ------------------------------------------------------------------------------


def test_the_form_refuses_negative_prices_odd_urls_and_bad_key_variables(
    admin_client: Client,
) -> None:
    data = {"name": "p", "base_url": "https://api.example.org/v1", "model": "m",
            "api_key_env": "", "price_in_per_1k": "0.5", "price_out_per_1k": "1.5",
            "priority": 1, "enabled": "on", "timeout": 60, "connect_timeout": 5,
            "max_retries": 1}  # fmt: skip
    url = reverse("admin:agents_provider_add")
    for field, bad, words in [
        ("price_in_per_1k", "-0.1", "A price cannot be negative."),
        ("base_url", "ftp://files.example.org/v1", "Use an http:// or https:// address."),
        ("base_url", "not a url", "Enter a valid URL."),
        ("api_key_env", "DATABASE_URL", "ending in _API_KEY"),
        ("connect_timeout", "0", "above zero"),
    ]:
        page = admin_client.post(url, {**data, field: bad}).content.decode()
        assert words in page, field
    assert not Provider.objects.exists()
    admin_client.post(url, data)
    assert Provider.objects.get().name == "p"


# --- the functions behind the page -------------------------------------------------------------


def test_failure_words_are_for_staff_and_name_the_status() -> None:
    assert failure_words("auth", 401) == (
        "The provider refused the key: check the key variable and its value. (HTTP 401)"
    )
    assert failure_words("stopped") == "Stopped."  # a code of the chat's: its words


def test_the_key_status_never_reads_out_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_API_KEY", "secret")
    row = Provider(name="acme", api_key_env="ACME_API_KEY")
    assert provider_key_status(row) == "ACME_API_KEY (set)"
    monkeypatch.setenv("ACME_API_KEY", "")
    assert provider_key_status(row) == "ACME_API_KEY — missing from the environment"
    monkeypatch.setenv("SECRET_KEY", "secret")
    saved_around_the_admin = Provider(name="odd", api_key_env="SECRET_KEY")
    assert provider_key_status(saved_around_the_admin) == (
        "SECRET_KEY — not read: the name must end in _API_KEY"
    )


def test_health_counts_only_failed_calls_of_the_last_hour_for_each_provider() -> None:
    now = timezone.now()
    a_generate_step("a", "dropped", now - timedelta(minutes=59))
    a_generate_step("a", "provider_error", now - timedelta(minutes=61))
    a_generate_step("a", "interrupted", now - timedelta(minutes=1))  # the person stopped it
    a_generate_step("b", "auth", now - timedelta(days=2))
    health = providers_health(["a", "b", "c"], now=now)
    assert (health["a"].last_error, health["a"].failures_last_hour) == ("dropped", 1)
    assert health["a"].last_error_at == now - timedelta(minutes=59) + timedelta(milliseconds=3)
    assert (health["b"].last_error, health["b"].failures_last_hour) == ("auth", 0)
    assert (health["c"].last_error, health["c"].breaker) == ("", "closed")


def clock(*readings: float) -> Any:
    values = iter(readings)
    return lambda: next(values)


def test_a_failed_test_says_what_failed_how_fast() -> None:
    async def refused(*args: Any, **kwargs: Any) -> tuple[str, None]:
        raise ProviderError("auth", status=401)

    (check,) = providers_test([Provider(name="acme")], complete=refused, clock=clock(1.0, 1.212))
    assert check == ConnectionCheck("acme", False, 212, error_code="auth",
                                    error_words=failure_words("auth", 401))  # fmt: skip
    assert check.summary == f"acme failed after 212 ms: {failure_words('auth', 401)}"


def test_a_test_is_cut_off_at_its_time_limit() -> None:
    async def silent(*args: Any, **kwargs: Any) -> tuple[str, None]:
        await asyncio.Event().wait()
        return "", None

    (check,) = providers_test([Provider(name="slow")], seconds=0.05, complete=silent)
    assert (check.ok, check.error_code) == (False, "timeout")


def test_a_long_answer_is_shortened_and_retries_and_timeouts_are_bounded() -> None:
    seen = []

    async def talkative(config: Any, messages: Any, *, max_tokens: int) -> tuple[str, None]:
        seen.append((config.max_retries, config.timeout, config.connect_timeout, max_tokens))
        return "  " + "word " * 100, None

    row = Provider(name="chatty", timeout=60, connect_timeout=2, max_retries=3)
    (check,) = providers_test([row], seconds=15, complete=talkative)
    assert seen == [(0, 15, 2, CHECK_MAX_TOKENS)]
    assert check.ok and len(check.answer) == 200 and check.answer.endswith("…")
