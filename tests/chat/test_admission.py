"""Admitting a burst of sends on the event loop (pipelined on Redis, one by one otherwise)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django_ratelimit import ALL
from django_ratelimit.core import _get_window, _make_cache_key, _split_rate, get_usage

from chat.admission import sends_admit_async
from chat.models import Conversation
from chat.owners import Owner
from chat.ratelimits import (
    SEND_GROUP,
    RateLimited,
    _request_for,
    check_send_rate,
    rate_counters,
)
from chat.services import ConversationBusy, SendRequest, lease_holder


def request(owner: Owner, ip: str, conversation: Conversation | None = None) -> SendRequest:
    return SendRequest(owner, conversation or Conversation(id=uuid.uuid4()), "hi", ip)


async def test_admission_counts_on_django_ratelimits_own_counters(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "5/h"
    owner = Owner(user_id=7)
    assert await sends_admit_async([request(owner, "10.1.1.1")]) == [None]
    check_send_rate(owner=owner, ip="10.1.1.1")  # the HTTP views' path, same counter
    usage = get_usage(
        _request_for(owner, "10.1.1.1"),
        group=SEND_GROUP,
        key="chat.ratelimits.owner_key",
        rate="5/h",
        increment=False,
    )
    assert usage is not None and usage["count"] == 2


async def test_a_burst_over_the_limit_refuses_only_the_excess(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "2/h"
    owner = Owner(user_id=8)
    results = await sends_admit_async([request(owner, f"10.2.2.{n}") for n in range(3)])
    assert results[:2] == [None, None]
    assert isinstance(results[2], RateLimited) and results[2].retry_after > 0


async def test_a_burst_from_one_address_counts_each_send(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "3/h"
    owners = [Owner(user_id=100 + n) for n in range(5)]
    check_send_rate(owner=Owner(user_id=99), ip="10.4.4.4")  # one sent earlier, over HTTP
    results = await sends_admit_async([request(owner, "10.4.4.4") for owner in owners])
    assert results[:2] == [None, None]
    assert all(isinstance(result, RateLimited) for result in results[2:])
    usage = get_usage(_request_for(owners[0], "10.4.4.4"), group=SEND_GROUP, key="ip", rate="3/h")
    assert usage is not None and usage["count"] == 6


def test_counter_keys_are_django_ratelimits_own(settings: Any) -> None:
    settings.RATELIMIT_CACHE_PREFIX = "orion-rl:"
    settings.RATELIMIT_HASH_ALGORITHM = "hashlib.sha1"
    owner = Owner(anon_id="a-visitor")
    counters = rate_counters([(owner, "10.5.5.5")], stored_keys=False)
    _, period = _split_rate(settings.ORION_RATE_LIMIT)
    expected = [
        _make_cache_key(SEND_GROUP, _get_window(value, period), settings.ORION_RATE_LIMIT,
                        value, ALL)
        for value in (owner.key, "10.5.5.5")
    ]  # fmt: skip
    assert counters.keys == expected and expected[0].startswith("orion-rl:")


async def test_two_sends_to_one_conversation_in_a_burst_admit_one() -> None:
    conversation = Conversation(id=uuid.uuid4())
    results = await sends_admit_async([request(Owner(user_id=9), "10.3.3.3", conversation)] * 2)
    assert results[0] is None and isinstance(results[1], ConversationBusy)
    assert lease_holder(conversation.pk) is not None  # readable by the ordinary cache API


async def test_with_redis_admission_is_pipelined_on_the_event_loop(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache API is synchronous: with Redis, calling it here would block the loop."""
    from chat import admission

    def refuse(*, requests: list[SendRequest]) -> list[Exception | None]:
        raise AssertionError("the in-process path ran")

    if settings.REDIS_URL:
        monkeypatch.setattr(admission, "sends_admit", refuse)
    assert await sends_admit_async([request(Owner(user_id=10), "10.4.4.4")]) == [None]


def test_a_counter_that_expires_mid_count_counts_as_new() -> None:
    from chat.services import _counts_add

    class Store:
        """A counter that exists when added to and is gone when incremented."""

        def add(self, key: str, value: int, ttl: int) -> bool:
            return False

        def incr(self, key: str, delta: int) -> int:
            raise ValueError("Key not found")

    assert _counts_add(Store(), ["owner", "ip", "owner2", "ip"], 60) == [1, 1, 1, 2]
