"""The retry policy: which failures are tried again, and how long it waits in between."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from agents.providers import ProviderError
from agents.providers.errors import retry_after_seconds, status_code, status_error
from agents.providers.retries import (
    FIRST_DELAY,
    MAX_DELAY,
    retry_delay,
    should_retry,
    with_retries,
)


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "auth"), (403, "auth"), (429, "rate_limited"), (408, "timeout"), (409, "bad_request"),
     (400, "bad_request"), (422, "bad_request"), (500, "provider_error"), (503, "provider_error"),
     (302, "provider_error")],
)  # fmt: skip
def test_http_statuses_become_codes(status: int, code: str) -> None:
    assert status_code(status) == code


@pytest.mark.parametrize(
    ("status", "retried"),
    [(408, True), (409, True), (429, True), (500, True), (503, True),
     (400, False), (401, False), (403, False), (404, False), (422, False)],
)  # fmt: skip
def test_only_statuses_that_may_pass_are_tried_again(status: int, retried: bool) -> None:
    assert should_retry(status_error(status)) is retried


def test_a_connection_that_never_opened_is_tried_again_an_answer_under_way_is_not() -> None:
    assert should_retry(ProviderError("unavailable", retryable=True))
    assert not should_retry(ProviderError("dropped"))
    assert not should_retry(ValueError("a bug is not a network hiccup"))


def test_a_short_retry_after_is_waited_for_exactly() -> None:
    asked = status_error(429, {"retry-after": "2"})
    assert retry_delay(1, asked, rand=lambda: 0.0) == 2.0
    assert retry_delay(3, asked, rand=lambda: 1.0) == 2.0


def test_a_long_retry_after_is_not_retried_at_all() -> None:
    assert not should_retry(status_error(429, {"retry-after": "61"}))
    assert should_retry(status_error(429, {"retry-after": "60"}))


def test_without_retry_after_the_wait_doubles_with_jitter_up_to_a_cap() -> None:
    failure = status_error(503)
    for attempt in range(1, 12):
        ceiling = min(FIRST_DELAY * 2 ** (attempt - 1), MAX_DELAY)
        low = retry_delay(attempt, failure, rand=lambda: 0.0)
        high = retry_delay(attempt, failure, rand=lambda: 0.999)
        assert low == ceiling / 2 and ceiling / 2 < high <= ceiling <= MAX_DELAY
    assert retry_delay(2, failure, rand=lambda: 0.0) == 2 * retry_delay(
        1, failure, rand=lambda: 0.0
    )


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after": "3"}, 3.0), ({"retry-after": "0.5"}, 0.5), ({"retry-after-ms": "250"}, 0.25),
     ({"retry-after": "soon"}, None), ({}, None), ({"retry-after": "-4"}, 0.0)],
)  # fmt: skip
def test_retry_after_is_read_in_seconds_or_milliseconds(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_seconds(headers) == seconds


def test_retry_after_may_be_an_http_date() -> None:
    later = format_datetime(datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds({"retry-after": later}, now=lambda: now) == 30.0


async def test_calls_are_tried_until_one_answers_waiting_as_asked_in_between() -> None:
    failures = [
        status_error(500, {"retry-after": "1.5"}),
        ProviderError("unavailable", retryable=True),
    ]
    waits: list[float] = []

    async def call() -> str:
        if failures:
            raise failures.pop(0)
        return "answer"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    assert await with_retries(call, retries=2, sleep=sleep) == "answer"
    assert waits[0] == 1.5 and FIRST_DELAY <= waits[1] <= 2 * FIRST_DELAY  # second retry: x2


async def test_the_last_failure_is_raised_when_the_retries_run_out() -> None:
    attempts = 0

    async def call() -> str:
        nonlocal attempts
        attempts += 1
        raise status_error(503, {"retry-after": "0"})

    async def sleep(seconds: float) -> None:
        pass

    with pytest.raises(ProviderError) as failed:
        await with_retries(call, retries=2, sleep=sleep)
    assert failed.value.status == 503 and attempts == 3
