"""The provider chain: fallback, mid-stream failover that continues the same message, the
circuit breaker (across two processes), the degradation ladder, and what every attempt
cost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from asgiref.sync import sync_to_async

from agents.models import Prompt, PromptVersion, Provider
from agents.pipeline import (
    AnswerError,
    ReplyContext,
    TextDelta,
    answer_stream,
    model_input,
    replies_prepare,
    runs_store,
    staff_config,
)
from agents.providers import breaker_success, breaker_trial, breakers_read
from agents.simulator import SimulatorConfig, SimulatorThread, run_in_thread, simulated_reply
from tests.conftest import BASE_DIR, SIM, free_port

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = [{"role": "user", "content": "Explain how tides work"}]


@pytest.fixture
def dropping() -> Iterator[SimulatorThread]:
    """A second model server that breaks every stream after 7 tokens (same replies)."""
    config = SimulatorConfig(port=0, ttft_ms=SIM.ttft_ms, tokens_per_sec=SIM.tokens_per_sec,
                             reply_tokens=SIM.reply_tokens, drop_after=7)  # fmt: skip
    with run_in_thread(config) as sim:
        yield sim


def provider(name: str, base_url: str, priority: int, **extra: Any) -> Provider:
    return Provider.objects.create(
        name=name, base_url=base_url, model="orion-sim-1", priority=priority,
        price_in_per_1k=Decimal("0.5"), price_out_per_1k=Decimal("1.5"), max_retries=0, **extra,
    )  # fmt: skip


async def answer(question: list[dict[str, str]] = QUESTION) -> tuple[ReplyContext, str, str]:
    """The reply's text and how it ended ("complete" or the error code); its run stored."""
    (context,) = await sync_to_async(replies_prepare)([question])
    parts: list[str] = []
    outcome = "complete"
    try:
        async for event in answer_stream(context):
            if isinstance(event, TextDelta):
                parts.append(event.text)
    except AnswerError as exc:
        outcome = exc.code
    await sync_to_async(runs_store)(finished=[(None, context.run, outcome, "")])
    return context, "".join(parts), outcome


def generate_steps(context: ReplyContext) -> list[tuple[str, str]]:
    return [(s.detail.get("provider", ""), s.outcome) for s in context.run.steps
            if s.name == "generate"]  # fmt: skip


def simulated_reply_tokens() -> list[str]:
    system = staff_config().prompt("chat.system")
    return simulated_reply(model_input(QUESTION, system), SIM.reply_tokens)


def expected_text() -> str:
    return "".join(simulated_reply_tokens())


async def test_with_no_rows_the_environments_provider_answers(simulator: SimulatorThread) -> None:
    context, text, outcome = await answer()
    assert outcome == "complete" and context.run.provider == "openai-compatible"
    assert text == await sync_to_async(expected_text)()


async def test_a_provider_that_cannot_be_reached_gives_way_to_the_next(
    simulator: SimulatorThread,
) -> None:
    await sync_to_async(provider)("down", f"http://127.0.0.1:{free_port()}/v1", 1)
    await sync_to_async(provider)("up", simulator.base_url, 2)
    context, text, outcome = await answer()
    assert outcome == "complete" and text == await sync_to_async(expected_text)()
    assert generate_steps(context) == [("down", "unavailable"), ("up", "complete")]
    assert (context.run.provider, context.run.answered_by) == ("up", "model")


async def test_a_provider_failing_mid_stream_is_continued_by_the_next_in_the_same_message(
    simulator: SimulatorThread, dropping: SimulatorThread
) -> None:
    await sync_to_async(provider)("flaky", dropping.base_url, 1)
    await sync_to_async(provider)("steady", simulator.base_url, 2)
    context, text, outcome = await answer()
    # One message, nothing repeated, nothing lost: exactly the undisturbed reply.
    assert outcome == "complete" and text == await sync_to_async(expected_text)()
    flaky, steady = [s for s in context.run.steps if s.name == "generate"]
    assert (flaky.outcome, flaky.detail["estimated"]) == ("dropped", True)
    assert flaky.tokens_out > 0 and flaky.cost > 0  # the broken attempt is paid for
    assert (steady.outcome, steady.detail["resumed"]) == ("complete", True)
    shown_by_flaky = flaky.detail["chars"]
    tokens = await sync_to_async(simulated_reply_tokens)()
    covered = [len("".join(tokens[:n])) for n in range(SIM.reply_tokens + 1)]
    assert steady.tokens_out == SIM.reply_tokens - covered.index(shown_by_flaky)
    assert context.run.cost == flaky.cost + steady.cost
    assert context.run.cache_put is None  # a stitched answer is not cached


async def test_the_breaker_opens_skips_at_once_then_lets_one_trial_through(
    settings: Any, simulator: SimulatorThread
) -> None:
    settings.ORION_BREAKER_FAILURES = 2
    settings.ORION_BREAKER_COOLDOWN_SECONDS = 30
    dead = await sync_to_async(provider)("dead", f"http://127.0.0.1:{free_port()}/v1", 1)
    await sync_to_async(provider)("up", simulator.base_url, 2)
    for _ in range(2):
        context, _, _ = await answer()
        assert generate_steps(context)[0] == ("dead", "unavailable")
    context, _, outcome = await answer()
    assert outcome == "complete"
    skipped = context.run.steps[[s.name for s in context.run.steps].index("generate")]
    assert (skipped.outcome, skipped.detail["breaker"]) == ("skipped", "open")
    # After the cool-down one reply tries the provider again; it is back, so it closes.
    dead.base_url = simulator.base_url
    await sync_to_async(dead.save)()
    with time_machine.travel(time.time() + 31, tick=True):
        context, _, _ = await answer()
        assert generate_steps(context) == [("dead", "complete")]
        assert breakers_read(["dead"])["dead"].opened_at is None


async def test_when_every_provider_fails_an_earlier_answer_to_the_question_is_given(
    simulator: SimulatorThread,
) -> None:
    first, text, _ = await answer()
    assert first.run.cache_put is not None
    # A new prompt: the cache stage no longer finds it (its key names the prompt)...
    await sync_to_async(publish_system_prompt)("Answer briefly.")
    await sync_to_async(provider)("down", f"http://127.0.0.1:{free_port()}/v1", 1)
    context, again, outcome = await answer()
    # ...but with every model down, the earlier answer is better than none.
    assert (outcome, again) == ("complete", text)
    assert (context.run.answered_by, context.run.cache_tier) == ("cache", "l3")
    degrade = next(s for s in context.run.steps if s.name == "degrade")
    assert (degrade.outcome, degrade.detail) == ("cache", {"after": "unavailable"})


def publish_system_prompt(text: str) -> None:
    prompt, _ = Prompt.objects.get_or_create(key="chat.system")
    PromptVersion.objects.filter(prompt=prompt).update(state="retired")
    PromptVersion.objects.create(prompt=prompt, number=prompt.versions.count() + 1, text=text,
                                 state="published")  # fmt: skip


async def test_when_every_provider_fails_with_nothing_cached_the_reply_fails_with_retry() -> None:
    await sync_to_async(provider)("down", f"http://127.0.0.1:{free_port()}/v1", 1)
    context, text, outcome = await answer()
    assert (text, outcome, context.run.answered_by) == ("", "unavailable", "static")
    degrade = [s for s in context.run.steps if s.name == "degrade"]
    assert [(s.outcome, s.detail) for s in degrade] == [("static", {"after": "unavailable"})]


async def test_a_stopped_reply_records_the_tokens_it_had_streamed(
    simulator: SimulatorThread,
) -> None:
    (context,) = await sync_to_async(replies_prepare)([QUESTION])
    stream = answer_stream(context)
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()  # what the chat does when a person stops the reply
    generate = next(s for s in context.run.steps if s.name == "generate")
    assert generate.outcome == "interrupted" and generate.detail["estimated"] is True
    assert generate.tokens_out >= 1 and generate.cost > 0
    assert context.run.cost_estimated


def test_a_rows_key_is_read_from_its_environment_variable_never_stored(
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("ORION_TEST_API_KEY", "sk-from-env")
    provider("keyed", "https://models.example.org/v1", 1, api_key_env="ORION_TEST_API_KEY")
    (config,) = staff_config().providers
    assert config.api_key == "sk-from-env" and "sk-from-env" not in repr(config)
    assert "sk-from-env" not in str(Provider.objects.values().get())


# --- across processes ----------------------------------------------------------------------


def in_another_process(redis_url: str, code: str) -> str:
    env = {**os.environ, "REDIS_URL": redis_url, "ORION_CACHE_PREFIX": "orion",
           "DJANGO_SETTINGS_MODULE": "project.settings"}  # fmt: skip
    script = f"import django; django.setup()\nfrom agents.providers import *\n{code}"
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=BASE_DIR,  # noqa: S603
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_breaker_opened_in_one_process_is_open_in_another(
    settings: Any, shared_cache: str
) -> None:
    settings.ORION_BREAKER_FAILURES = 3
    env_settings = "from django.conf import settings; settings.ORION_BREAKER_FAILURES = 3\n"
    in_another_process(shared_cache, env_settings + "for _ in range(3): breaker_failure('p')")
    assert breakers_read(["p"])["p"].opened_at is not None
    with time_machine.travel(time.time() + settings.ORION_BREAKER_COOLDOWN_SECONDS + 1):
        assert breakers_read(["p"])["p"].phase(time.time()) == "half_open"
    assert breaker_trial("p")  # this process takes the one trial...
    assert in_another_process(shared_cache, "print(breaker_trial('p'))") == "False"  # ...not both
    breaker_success("p")
    state = in_another_process(shared_cache, "print(breakers_read(['p'])['p'].opened_at)")
    assert state == "None"


def test_a_providers_key_variable_must_be_meant_for_a_key(monkeypatch: Any) -> None:
    from django.core.exceptions import ValidationError

    bad = Provider(name="x", base_url="https://x.example.org/v1", model="m",
                   api_key_env="DJANGO_SECRET_KEY")  # fmt: skip
    with pytest.raises(ValidationError):
        bad.full_clean()
    monkeypatch.setenv("DJANGO_SECRET_KEY", "do-not-send")
    provider("sneaky", "https://x.example.org/v1", 1, api_key_env="DJANGO_SECRET_KEY")
    (config,) = staff_config().providers
    assert config.api_key == "not-needed"  # written around the admin: still not read


async def test_a_reply_cut_at_the_length_cap_keeps_who_answered(settings: Any) -> None:
    settings.ORION_MAX_REPLY_CHARS = 100
    context, text, outcome = await answer([{"role": "user", "content": "Talk [sim:tokens=200]"}])
    assert outcome == "complete" and len(text) == 100
    check = next(s for s in context.run.steps if s.name == "check")
    assert check.outcome == "truncated"
    assert (context.run.answered_by, context.run.provider) == ("model", "openai-compatible")
