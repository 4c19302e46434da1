"""Admitting a burst of sends on the event loop (pipelined on Redis, one by one otherwise)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django_ratelimit.core import get_usage

from chat.admission import sends_admit_async
from chat.models import Conversation
from chat.owners import Owner
from chat.ratelimits import SEND_GROUP, RateLimited, _request_for, check_send_rate
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
