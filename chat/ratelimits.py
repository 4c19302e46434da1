"""Message rate limits on the WebSocket, on django-ratelimit's counters.

Messages (and retries) are sent only over the socket. Each one counts once for its owner
and once for its IP address in the group ``chat.send``, at ``ORION_RATE_LIMIT``, in the
same cache as the HTTP views' limits. The HTTP views' writes (new, rename and delete a
conversation) have their own counters: django-ratelimit's decorator on the group
``chat.write``, per account or IP (``user_or_ip``), at the same rate.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.http import HttpRequest
from django.utils.module_loading import import_string
from django_ratelimit.core import (  # the internals that make its cache keys
    _SIMPLE_KEYS,
    EXPIRATION_FUDGE,
    _get_window,
    _split_rate,
    get_usage,
)

from chat.owners import Owner

SEND_GROUP = "chat.send"


class RateLimited(Exception):  # noqa: N818  (reads better at the call sites)
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        seconds = max(1, self.retry_after)
        if seconds >= 90:
            when = f"{round(seconds / 60)} minutes"
        else:
            when = f"{seconds} second" + ("" if seconds == 1 else "s")
        return f"You are sending messages too fast. Try again in {when}."


def owner_key(group: str, request: HttpRequest) -> str:
    """django-ratelimit key: the conversation owner (account or visitor)."""
    owner: Owner = request.orion_owner  # type: ignore[attr-defined]
    return owner.key


def _request_for(owner: Owner, ip: str) -> HttpRequest:
    # django-ratelimit keys read the request; a socket has none, so lend it a minimal one.
    request = HttpRequest()
    request.method = "POST"
    request.META["REMOTE_ADDR"] = ip or "0.0.0.0"  # noqa: S104
    request.orion_owner = owner  # type: ignore[attr-defined]
    return request


def check_send_rate(*, owner: Owner, ip: str) -> None:
    """Count one message for ``owner`` and ``ip``; raise ``RateLimited`` past the limit."""
    request = _request_for(owner, ip)
    for key in ("chat.ratelimits.owner_key", "ip"):
        usage = get_usage(
            request, group=SEND_GROUP, key=key, rate=settings.ORION_RATE_LIMIT, increment=True
        )
        if usage is not None and usage["should_limit"]:
            raise RateLimited(retry_after=int(usage["time_left"]))


@dataclass(frozen=True)
class RateCounters:
    """django-ratelimit's own counters for a batch of senders (two per sender: owner, ip)."""

    keys: list[str]  # cache keys as stored (with the cache's prefix and version)
    windows: list[int]  # when each counter's window ends (epoch seconds)
    limit: int
    ttl: int

    def refusals(self, counts: list[int]) -> list[RateLimited | None]:
        now = int(time.time())
        results: list[RateLimited | None] = []
        for index in range(0, len(counts), 2):
            over = [self.windows[i] - now for i in (index, index + 1) if counts[i] > self.limit]
            results.append(RateLimited(retry_after=max(over)) if over else None)
        return results


def rate_counters(senders: list[tuple[Owner, str]], *, stored_keys: bool = True) -> RateCounters:
    """The counters for a batch of senders; ``stored_keys=False`` gives the keys as
    django-ratelimit passes them to the cache API (which then adds prefix and version)."""
    rate = settings.ORION_RATE_LIMIT
    limit, period = _split_rate(rate)
    counter_key = _counter_key_maker(limit, period)
    store = caches[DEFAULT_CACHE_ALIAS]  # the backend itself, not the per-call proxy
    ip_values: dict[str, str] = {}  # a burst often comes from a few addresses
    keys, windows = [], []
    for owner, ip in senders:
        ip_value = ip_values.get(ip)
        if ip_value is None:
            ip_value = ip_values[ip] = _SIMPLE_KEYS["ip"](_request_for(owner, ip))
        for value in (owner.key, ip_value):
            window = _get_window(value, period)
            key = counter_key(value, window)
            # make_key is what the cache API applies (its validation only warns about
            # keys memcached cannot take; these are a prefix and a hex digest).
            keys.append(store.make_key(key) if stored_keys else key)
            windows.append(window)
    return RateCounters(keys=keys, windows=windows, limit=limit, ttl=period + EXPIRATION_FUDGE)


def _counter_key_maker(limit: int, period: int) -> Callable[[str, int], str]:
    """django-ratelimit's cache key for a send counter (``_make_cache_key`` for our group,
    rate and any method), with its settings read once per batch instead of twice per key."""
    prefix = getattr(settings, "RATELIMIT_CACHE_PREFIX", "rl:")
    algorithm: Any = getattr(settings, "RATELIMIT_HASH_ALGORITHM", hashlib.sha256)
    if isinstance(algorithm, str):
        algorithm = import_string(algorithm)
    head = f"{SEND_GROUP}{limit}/{period}s"

    def counter_key(value: str, window: int) -> str:
        return prefix + algorithm(f"{head}{value}{window}".encode()).hexdigest()

    return counter_key
