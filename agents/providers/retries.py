"""The one retry policy for model calls, streamed or not, built on tenacity.

A call is tried again only while nothing of the answer has been read: a connection that
could not be made or broke before the response, or an HTTP 408, 409, 429 or 5xx. Between
attempts it waits what the server asked for in ``Retry-After`` when that is short; a
server asking for longer is not retried at all (the person would rather hear now). With
no such header the wait grows exponentially, with jitter so that many replies failing at
once do not come back at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from agents.providers.errors import ProviderError

logger = logging.getLogger(__name__)

FIRST_DELAY = 0.5  # seconds before the first retry, doubled for each one after
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 60.0  # the longest wait a server may ask for and still be retried

T = TypeVar("T")


def should_retry(failure: BaseException) -> bool:
    """Whether a call that failed with ``failure`` may be sent again."""
    if not isinstance(failure, ProviderError) or not failure.retryable:
        return False
    return failure.retry_after is None or failure.retry_after <= MAX_RETRY_AFTER


def retry_delay(
    attempt: int, failure: BaseException | None, *, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after attempt number ``attempt`` (1 for the first) failed with
    ``failure``: the server's short ``Retry-After``, else a jittered exponential backoff
    between half and all of ``FIRST_DELAY * 2 ** (attempt - 1)``, capped at ``MAX_DELAY``."""
    asked = failure.retry_after if isinstance(failure, ProviderError) else None
    if asked is not None and 0 <= asked <= MAX_RETRY_AFTER:
        return asked
    ceiling = min(FIRST_DELAY * 2 ** (attempt - 1), MAX_DELAY)
    return ceiling * (0.5 + 0.5 * rand())


def retry_policy(
    retries: int,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    attempts_before: int = 0,
) -> AsyncRetrying:
    """Up to ``retries`` more attempts after the first, under the rules above
    (``attempts_before``: attempts already made, which the backoff counts)."""

    def wait(state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        return retry_delay(attempts_before + state.attempt_number, failure)

    def log_retry(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        _log_retry(failure, attempts_before + state.attempt_number, delay)

    return AsyncRetrying(
        stop=stop_after_attempt(retries + 1),
        retry=retry_if_exception(should_retry),
        wait=wait,
        before_sleep=log_retry,
        sleep=sleep,
        reraise=True,  # the caller sees the last ProviderError, not tenacity's RetryError
    )


def _log_retry(failure: BaseException | None, attempt: int, delay: float) -> None:
    logger.info("model call failed (%s), attempt %d; again in %.2fs", failure, attempt, delay)


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    retries: int,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """``await call()``, tried again under the policy; raises the last failure.

    The first attempt is made directly: it nearly always answers, and setting up the
    policy costs CPU a burst of replies would pay one after another.
    """
    try:
        return await call()
    except Exception as failure:
        if retries <= 0 or not should_retry(failure):
            raise
        delay = retry_delay(1, failure)
        _log_retry(failure, 1, delay)
    await sleep(delay)
    return await retry_policy(retries - 1, sleep=sleep, attempts_before=1)(call)
