"""Admission: one reply per conversation at a time, and the message rate limits.

- A **lease** is a key holding the id of the server process generating a conversation's
  reply. It expires unless refreshed, so a process that dies frees its conversations.
- The **rate limit** (``ORION_RATE_LIMIT``) counts each message once for its owner and
  once for its IP address, in fixed windows.

A burst of sends is admitted in one step, whatever its size: under a lock in this
process's memory with the embedded defaults (one process), or in one Redis script when
``REDIS_URL`` is set (every process). A send whose conversation is busy is refused before
it is counted, so it uses up no quota; a send over the limit gives its lease back.
django-ratelimit, which the HTTP views use, counts one key per cache round trip; for a
burst of sends that cost more than the time to first token allows (bench/README.md).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Protocol

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from project.env import rate_split

logger = logging.getLogger(__name__)

INSTANCE_ID = uuid.uuid4().hex  # this server process

BUSY = -1  # an admission result: the conversation is generating a reply
ADMITTED = 0  # ... the send may go; any other result is the seconds until the limit lifts


@dataclass(frozen=True, slots=True)
class Ask:
    """One message asking to go: its conversation (None for a count alone), owner and IP."""

    conversation_id: str | None
    owner_key: str
    ip: str


@dataclass(frozen=True, slots=True)
class Limits:
    count: int
    period: int  # seconds
    lease_seconds: int


class Gate(Protocol):
    # Whether other server processes share these leases: then a missing lease may only
    # mean that Redis restarted empty, and its holder takes it again at its next refresh.
    shared: bool

    def admit(self, asks: list[Ask], *, limits: Limits, holder: str, now: float) -> list[int]: ...

    def acquire(self, conversation_id: str, *, holder: str, seconds: int) -> bool: ...

    def refresh(self, conversation_id: str, *, holder: str, seconds: int) -> None: ...

    def release(self, conversation_ids: list[str]) -> None: ...

    def holder(self, conversation_id: str) -> str | None: ...

    def holders(self, conversation_ids: list[str]) -> list[str | None]: ...

    def clear(self) -> None: ...


def window(now: float, period: int) -> tuple[int, int]:
    """The fixed window ``now`` falls in, and the whole seconds until it ends."""
    number = int(now // period)
    return number, max(1, math.ceil((number + 1) * period - now))


class MemoryGate:
    """Leases and counters in this process (the embedded defaults: one server process)."""

    shared = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: dict[str, tuple[str, float]] = {}  # conversation -> holder, expiry
        self._counts: dict[str, tuple[int, int]] = {}  # counter -> window, count
        self._window = 0

    def admit(self, asks: list[Ask], *, limits: Limits, holder: str, now: float) -> list[int]:
        number, left = window(now, limits.period)
        results = []
        with self._lock:
            if number != self._window:  # forget the counters of windows that are over
                self._window = number
                self._counts = {k: v for k, v in self._counts.items() if v[0] == number}
                self._leases = {k: v for k, v in self._leases.items() if v[1] > now}
            for ask in asks:
                lease = ask.conversation_id
                if lease is not None and not self._take(lease, holder, now, limits.lease_seconds):
                    results.append(BUSY)
                    continue
                owner = self._count("owner:" + ask.owner_key, number)
                ip = self._count("ip:" + ask.ip, number)
                if owner > limits.count or ip > limits.count:
                    if lease is not None:
                        del self._leases[lease]
                    results.append(left)
                else:
                    results.append(ADMITTED)
        return results

    def _take(self, conversation_id: str, holder: str, now: float, seconds: int) -> bool:
        held = self._leases.get(conversation_id)
        if held is not None and held[1] > now:
            return False
        self._leases[conversation_id] = (holder, now + seconds)
        return True

    def _count(self, key: str, number: int) -> int:
        seen = self._counts.get(key)
        count = seen[1] + 1 if seen is not None and seen[0] == number else 1
        self._counts[key] = (number, count)
        return count

    def acquire(self, conversation_id: str, *, holder: str, seconds: int) -> bool:
        with self._lock:
            return self._take(conversation_id, holder, time.time(), seconds)

    def refresh(self, conversation_id: str, *, holder: str, seconds: int) -> None:
        with self._lock:
            now = time.time()
            held = self._leases.get(conversation_id)
            if held is None or held[1] <= now:
                held = (holder, now)
            self._leases[conversation_id] = (held[0], now + seconds)

    def release(self, conversation_ids: list[str]) -> None:
        with self._lock:
            for conversation_id in conversation_ids:
                self._leases.pop(conversation_id, None)

    def holder(self, conversation_id: str) -> str | None:
        held = self._leases.get(conversation_id)
        return held[0] if held is not None and held[1] > time.time() else None

    def holders(self, conversation_ids: list[str]) -> list[str | None]:
        return [self.holder(conversation_id) for conversation_id in conversation_ids]

    def clear(self) -> None:
        with self._lock:
            self._leases.clear()
            self._counts.clear()


# KEYS: per ask, its lease, owner counter and IP counter. ARGV: holder, lease milliseconds,
# limit, window seconds, then per ask "1" when it asks for a lease. Returns per ask 0
# (admitted), -1 (busy) or 1 (over the limit).
_ADMIT = """
local limit = tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS / 3 do
  local lease, owner, ip = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local leasing = ARGV[4 + i] == "1"
  if leasing and not redis.call("SET", lease, ARGV[1], "NX", "PX", ARGV[2]) then
    out[i] = -1
  else
    local a = redis.call("INCR", owner)
    if a == 1 then redis.call("EXPIRE", owner, ARGV[4]) end
    local b = redis.call("INCR", ip)
    if b == 1 then redis.call("EXPIRE", ip, ARGV[4]) end
    if a > limit or b > limit then
      if leasing then redis.call("DEL", lease) end
      out[i] = 1
    else
      out[i] = 0
    end
  end
end
return out
"""


class RedisGate:
    """Leases and counters in Redis, shared by every server process."""

    shared = True

    def __init__(self, url: str, prefix: str) -> None:
        # These calls run on the server's database thread: while Redis is away each must
        # fail at once (one quick retry for a connection left from before a restart),
        # not back off for seconds as redis-py does by default.
        self._redis = redis.Redis.from_url(
            url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 1),
            socket_connect_timeout=1.0,
            socket_timeout=5.0,
        )
        self._admit = self._redis.register_script(_ADMIT)
        self._prefix = prefix

    def _lease(self, conversation_id: str) -> str:
        return f"{self._prefix}:lease:{conversation_id}"

    def admit(self, asks: list[Ask], *, limits: Limits, holder: str, now: float) -> list[int]:
        if not asks:
            return []
        number, left = window(now, limits.period)
        keys: list[str] = []
        flags: list[str] = []
        for ask in asks:
            keys.append(self._lease(ask.conversation_id or "-"))
            keys.append(f"{self._prefix}:rate:{number}:owner:{ask.owner_key}")
            keys.append(f"{self._prefix}:rate:{number}:ip:{ask.ip}")
            flags.append("1" if ask.conversation_id is not None else "0")
        args: list[str | int] = [
            holder,
            limits.lease_seconds * 1000,
            limits.count,
            limits.period + 1,
            *flags,
        ]
        results = self._admit(keys=keys, args=args)
        return [left if result == 1 else int(result) for result in results]

    def acquire(self, conversation_id: str, *, holder: str, seconds: int) -> bool:
        return bool(self._redis.set(self._lease(conversation_id), holder, nx=True, ex=seconds))

    def refresh(self, conversation_id: str, *, holder: str, seconds: int) -> None:
        key = self._lease(conversation_id)
        # Taken again if it is gone (Redis restarted without its data), else extended.
        if not self._redis.set(key, holder, nx=True, ex=seconds):
            self._redis.expire(key, seconds)

    def release(self, conversation_ids: list[str]) -> None:
        if conversation_ids:
            self._redis.delete(*(self._lease(pk) for pk in conversation_ids))

    def holder(self, conversation_id: str) -> str | None:
        value = self._redis.get(self._lease(conversation_id))
        return value if isinstance(value, str) else None

    def holders(self, conversation_ids: list[str]) -> list[str | None]:
        if not conversation_ids:
            return []
        values = self._redis.mget([self._lease(pk) for pk in conversation_ids])
        return [value if isinstance(value, str) else None for value in values]

    def clear(self) -> None:
        for key in self._redis.scan_iter(match=f"{self._prefix}:*", count=1000):
            self._redis.delete(key)


@cache
def _gate(url: str, prefix: str) -> Gate:
    return RedisGate(url, prefix) if url else MemoryGate()


def gate() -> Gate:
    """This configuration's gate (settings are read each time: tests change them)."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "orion"
    return _gate(settings.REDIS_URL, f"{prefix}:gate")


def limits() -> Limits:
    count, period = rate_split(settings.ORION_RATE_LIMIT)
    return Limits(count, period, settings.ORION_GENERATION_LEASE_SECONDS)


def asks_admit(asks: list[Ask]) -> list[int]:
    """For each ask, in order: ``ADMITTED`` (its lease is now held), ``BUSY``, or the
    seconds until its owner or address may send again."""
    return gate().admit(asks, limits=limits(), holder=INSTANCE_ID, now=time.time())


def lease_acquire(conversation_id: uuid.UUID | str, *, holder: str = INSTANCE_ID) -> bool:
    return gate().acquire(
        str(conversation_id), holder=holder, seconds=settings.ORION_GENERATION_LEASE_SECONDS
    )


def lease_refresh(conversation_id: uuid.UUID | str, *, holder: str = INSTANCE_ID) -> None:
    """Extend the lease of a reply this process generates (taking it again if it lapsed)."""
    gate().refresh(
        str(conversation_id), holder=holder, seconds=settings.ORION_GENERATION_LEASE_SECONDS
    )


def lease_release(conversation_id: uuid.UUID | str) -> None:
    leases_release([conversation_id])


def leases_release(conversation_ids: Iterable[uuid.UUID | str]) -> None:
    """Give leases back. While Redis is away that fails, and does no harm: a lease lapses
    by itself (``ORION_GENERATION_LEASE_SECONDS``)."""
    pks = [str(pk) for pk in conversation_ids]
    try:
        gate().release(pks)
    except redis.RedisError as exc:
        logger.warning("could not give back %d leases: %s", len(pks), exc)


def lease_holder(conversation_id: uuid.UUID | str) -> str | None:
    return gate().holder(str(conversation_id))


def lease_holders(conversation_ids: list[uuid.UUID | str]) -> list[str | None]:
    """Each conversation's lease holder (None where nobody generates its reply), at once."""
    return gate().holders([str(pk) for pk in conversation_ids])


def leases_shared() -> bool:
    return gate().shared
