"""Generation leases: one reply per conversation at a time, across server processes.

A lease is a cache key holding the id of the process generating the conversation's reply.
It expires unless refreshed, so a process that dies frees its conversations.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache

INSTANCE_ID = uuid.uuid4().hex  # this server process


def lease_key(conversation_id: uuid.UUID | str) -> str:
    return f"orion:generating:{conversation_id}"


def lease_acquire(conversation_id: uuid.UUID | str) -> bool:
    return cache.add(
        lease_key(conversation_id), INSTANCE_ID, settings.ORION_GENERATION_LEASE_SECONDS
    )


def lease_refresh(conversation_id: uuid.UUID | str) -> None:
    cache.touch(lease_key(conversation_id), settings.ORION_GENERATION_LEASE_SECONDS)


def lease_release(conversation_id: uuid.UUID | str) -> None:
    cache.delete(lease_key(conversation_id))


def leases_release(conversation_ids: Iterable[uuid.UUID | str]) -> None:
    cache.delete_many([lease_key(pk) for pk in conversation_ids])


def lease_holder(conversation_id: uuid.UUID | str) -> str | None:
    return cache.get(lease_key(conversation_id))
