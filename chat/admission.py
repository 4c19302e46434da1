"""Admitting a burst of sends from the event loop: rate limits and leases, two round trips.

With Redis, the counters and leases are set through an asyncio client on the event loop.
From the database thread every round trip had to win the GIL back from the busy loop:
a batch that takes 4 ms alone took 80-280 ms under a burst. The keys, values and expiry
are exactly those of Django's Redis cache and django-ratelimit, so the HTTP views, the
sync code paths and this one share the same counters and leases.
"""

from __future__ import annotations

import asyncio
import weakref

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from redis import asyncio as aioredis

from chat.ratelimits import rate_counters
from chat.services import INSTANCE_ID, ConversationBusy, SendRequest, lease_entry, lease_key

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]
_clients = weakref.WeakKeyDictionary()


def _client() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(settings.REDIS_URL)
    return client


async def sends_admit_async(requests: list[SendRequest]) -> list[Exception | None]:
    """``services.sends_admit`` without leaving the event loop."""
    if not isinstance(caches[DEFAULT_CACHE_ALIAS], RedisCache):  # (``cache`` is a proxy)
        return _admit_in_process(requests)
    client = _client()
    counters = rate_counters([(r.owner, r.ip) for r in requests])
    pipeline = client.pipeline(transaction=False)
    for key in counters.keys:
        pipeline.set(key, 0, nx=True, ex=counters.ttl)
        pipeline.incr(key)
    limited = counters.refusals((await pipeline.execute())[1::2])
    allowed = [r for r, refusal in zip(requests, limited, strict=True) if refusal is None]
    pipeline = client.pipeline(transaction=False)
    for request in allowed:
        key, value, timeout = lease_entry(request.conversation.pk)
        pipeline.set(key, value, nx=True, ex=timeout)
    leased = iter(await pipeline.execute() if allowed else [])
    return [
        refusal if refusal is not None else (None if next(leased) else ConversationBusy())
        for refusal in limited
    ]


def _admit_in_process(requests: list[SendRequest]) -> list[Exception | None]:
    """The same counters and leases through the cache API, as django-ratelimit counts.

    An in-process cache does no I/O; this skips django-ratelimit's per-call set-up (a
    request object and key resolution per counter) and the cache proxy's per-call lookup.
    """
    store = caches[DEFAULT_CACHE_ALIAS]
    counters = rate_counters([(r.owner, r.ip) for r in requests], stored_keys=False)
    counts = [1 if store.add(key, 1, counters.ttl) else store.incr(key) for key in counters.keys]
    limited = counters.refusals(counts)
    lease_timeout = settings.ORION_GENERATION_LEASE_SECONDS
    return [
        refusal
        if refusal is not None
        else (
            None
            if store.add(lease_key(request.conversation.pk), INSTANCE_ID, lease_timeout)
            else ConversationBusy()
        )
        for request, refusal in zip(requests, limited, strict=True)
    ]
