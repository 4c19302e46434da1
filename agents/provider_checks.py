"""What staff see of a provider beyond its row: whether its key is in the environment, how
it has been doing (its circuit breaker, its last failed call, its failures in the last
hour, read from the runs' steps) and whether it answers now (``providers_test``: one
short request each, bounded in time).

Used by the admin; nothing here runs on a reply's path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.db.models import Count, F, Window
from django.db.models.fields.json import KT
from django.db.models.functions import RowNumber
from django.utils import timezone

from agents.models import Provider, Step
from agents.pipeline.errors import error_text
from agents.providers import (
    HALF_OPEN,
    OPEN,
    ProviderConfig,
    ProviderError,
    Usage,
    breakers_read,
    complete_chat,
    provider_from_row,
)

logger = logging.getLogger(__name__)

# The codes a failed model call is recorded with (``agents.providers.errors``), in words
# for staff: what to look at rather than what a person in the chat is told.
FAILURE_WORDS: dict[str, str] = {
    "timeout": "No answer in time.",
    "unavailable": "No connection could be made: check the base URL and that the server is up.",
    "dropped": "The connection broke before the answer was complete.",
    "provider_error": "The provider reported an error of its own, or sent something that is "
    "not an answer.",
    "rate_limited": "The provider is limiting requests: too many, or the quota is used up.",
    "auth": "The provider refused the key: check the key variable and its value.",
    "bad_request": "The provider refused the request: check the model name.",
}
PHASE_WORDS = {OPEN: "open", HALF_OPEN: "half-open"}

LAST_ERROR_WITHIN = timedelta(days=7)  # older failures are not shown as the last error
CHECK_MESSAGES = [{"role": "user", "content": "Are you there? Answer in one short sentence."}]
CHECK_MAX_TOKENS = 24
CHECK_SECONDS = 15.0  # the longest a test may hold the admin page
ANSWER_SHOWN_CHARS = 200
UNEXPECTED = "The test itself went wrong; the server's log says why."


def failure_words(code: str, status: int | None = None) -> str:
    """A failed call's code in words for staff (the people's words for codes not listed)."""
    words = FAILURE_WORDS.get(code) or error_text(code)
    return f"{words} (HTTP {status})" if status else words


def provider_key_status(row: Provider) -> str:
    """Whether the variable the row names holds a key; never the key itself."""
    if not row.api_key_env:
        return "none needed"
    if not row.api_key_env.endswith("_API_KEY"):  # a row written around the admin's check
        return f"{row.api_key_env} — not read: the name must end in _API_KEY"
    if os.environ.get(row.api_key_env):
        return f"{row.api_key_env} (set)"
    return f"{row.api_key_env} — missing from the environment"


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    breaker: str  # "closed", "open" or "half-open"
    recent_failures: int = 0  # counted by the breaker, within its window
    last_error: str = ""  # the code of the latest failed call, if any
    last_error_at: datetime | None = None
    failures_last_hour: int = 0

    @property
    def breaker_words(self) -> str:
        if self.breaker == "closed" and self.recent_failures:
            return f"closed, {self.recent_failures} recent failure(s)"
        return self.breaker


def providers_health(
    names: Iterable[str], *, now: datetime | None = None, clock: float | None = None
) -> dict[str, ProviderHealth]:
    """How each named provider has been doing, in one cache read and two queries whatever
    the number of names: the breaker's phase, the latest failed call recorded in a run's
    steps (within ``LAST_ERROR_WITHIN``), and the failed calls of runs started in the
    last hour."""
    names = list(names)
    now = timezone.now() if now is None else now
    clock = time.time() if clock is None else clock
    failed = Step.objects.filter(
        name="generate", outcome__in=FAILURE_WORDS, detail__provider__in=names,
        run__started_at__gte=now - LAST_ERROR_WITHIN,  # an index bounds what is read
    ).annotate(provider_name=KT("detail__provider"))  # fmt: skip
    latest = {
        name: (code, started + timedelta(milliseconds=start_ms))
        for name, code, started, start_ms in failed.annotate(
            rank=Window(RowNumber(), partition_by=F("provider_name"),
                        order_by=[F("run__started_at").desc(), F("start_ms").desc()])
        ).filter(rank=1).values_list("provider_name", "outcome", "run__started_at", "start_ms")
    }  # fmt: skip
    hour = dict(
        failed.filter(run__started_at__gte=now - timedelta(hours=1))
        .values("provider_name")
        .annotate(n=Count("pk"))
        .values_list("provider_name", "n")
    )
    health = {}
    for name, state in breakers_read(names).items():
        code, at = latest.get(name, ("", None))
        health[name] = ProviderHealth(
            breaker=PHASE_WORDS.get(state.phase(clock), "closed"),
            recent_failures=state.failures,
            last_error=code,
            last_error_at=at,
            failures_last_hour=hour.get(name, 0),
        )
    return health


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """The outcome of one test request to a provider."""

    provider: str
    ok: bool
    latency_ms: int
    answer: str = ""
    error_code: str = ""
    error_words: str = ""

    @property
    def summary(self) -> str:
        if self.ok:
            return f"{self.provider} answered in {self.latency_ms} ms: “{self.answer}”"
        return f"{self.provider} failed after {self.latency_ms} ms: {self.error_words}"


Complete = Callable[..., Awaitable[tuple[str, Usage | None]]]


def providers_test(
    rows: Iterable[Provider],
    *,
    seconds: float = CHECK_SECONDS,
    complete: Complete = complete_chat,
    clock: Callable[[], float] = time.perf_counter,
) -> list[ConnectionCheck]:
    """Send each provider one short request, all at once and without retries, waiting at
    most ``seconds`` (less where a row's own timeouts are shorter). Synchronous: for the
    admin's views."""
    rows = list(rows)

    async def check_all() -> list[ConnectionCheck]:
        checks = (_check(row, seconds, complete, clock) for row in rows)
        return list(await asyncio.gather(*checks))

    return async_to_sync(check_all)()


async def _check(
    row: Provider, seconds: float, complete: Complete, clock: Callable[[], float]
) -> ConnectionCheck:
    config = _bounded(provider_from_row(row), seconds)
    began = clock()
    answer, code, status = "", "", None
    try:
        call = complete(config, CHECK_MESSAGES, max_tokens=CHECK_MAX_TOKENS)
        text, _ = await asyncio.wait_for(call, seconds)
        answer = str(text)
    except ProviderError as exc:
        code, status = exc.code, exc.status
    except TimeoutError:
        code = "timeout"
    except Exception:
        logger.exception("testing provider %s failed unexpectedly", row.name)
        code = "internal"
    latency = round((clock() - began) * 1000)
    if code:
        words = UNEXPECTED if code == "internal" else failure_words(code, status)
        return ConnectionCheck(row.name, False, latency, error_code=code, error_words=words)
    return ConnectionCheck(row.name, True, latency, answer=_shorten(answer.strip()))


def _bounded(config: ProviderConfig, seconds: float) -> ProviderConfig:
    return replace(
        config,
        timeout=min(config.timeout, seconds),
        connect_timeout=min(config.connect_timeout, seconds),
        max_retries=0,
    )


def _shorten(text: str) -> str:
    if len(text) <= ANSWER_SHOWN_CHARS:
        return text
    return text[: ANSWER_SHOWN_CHARS - 1].rstrip() + "…"
