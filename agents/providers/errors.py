"""How a model call fails: a stable code, and whether trying again could help.

The words people read for each code live in ``agents.pipeline.errors``; this package only
says what went wrong. Codes:

- ``timeout``: no answer in time (or HTTP 408);
- ``unavailable``: no connection could be made;
- ``dropped``: the connection broke, before the response or in the middle of it;
- ``provider_error``: HTTP 5xx, a response that is not HTTP or SSE, a streamed error;
- ``rate_limited``: HTTP 429;
- ``auth``: HTTP 401 or 403;
- ``bad_request``: any other HTTP 4xx.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

# Statuses worth another attempt: the request was not processed, or may succeed later.
RETRY_STATUSES = frozenset({408, 409, 429})


class ProviderError(Exception):
    """A failed model call.

    ``retryable`` is set only where the request can safely be sent again (nothing of the
    answer has been read yet); ``retry_after`` is the wait the server asked for, in seconds.
    """

    def __init__(
        self,
        code: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code if status is None else f"{code} (HTTP {status})")
        self.code = code
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


def status_code(status: int) -> str:
    """The failure code for an HTTP status that is not a success."""
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limited"
    if status == 408:
        return "timeout"
    if 400 <= status < 500:
        return "bad_request"
    return "provider_error"  # 5xx, and redirects, which are never followed


def status_error(status: int, headers: Mapping[str, str] | None = None) -> ProviderError:
    """The ``ProviderError`` for an HTTP error response with ``headers``."""
    return ProviderError(
        status_code(status),
        status=status,
        retryable=status in RETRY_STATUSES or status >= 500,
        retry_after=retry_after_seconds(headers) if headers is not None else None,
    )


def retry_after_seconds(
    headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> float | None:
    """Seconds the server asked to wait before another attempt, if it said.

    Reads ``Retry-After`` (seconds or an HTTP date) and the ``retry-after-ms`` some
    OpenAI-compatible servers send. ``headers`` must look names up without regard to case.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - now(), 0.0)
    except (TypeError, ValueError):
        return None
