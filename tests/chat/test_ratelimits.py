from __future__ import annotations

from typing import Any

import pytest

from chat.owners import Owner
from chat.ratelimits import RateLimited, check_send_rate


def test_the_limit_counts_per_owner(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "2/h"
    alice = Owner(user_id=1)
    check_send_rate(owner=alice, ip="10.0.0.1")
    check_send_rate(owner=alice, ip="10.0.0.2")
    with pytest.raises(RateLimited) as limited:
        check_send_rate(owner=alice, ip="10.0.0.3")
    assert 0 < limited.value.retry_after <= 3600
    assert "Try again in" in limited.value.message


def test_the_limit_counts_per_address(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "2/h"
    check_send_rate(owner=Owner(user_id=1), ip="10.0.0.9")
    check_send_rate(owner=Owner(user_id=2), ip="10.0.0.9")
    with pytest.raises(RateLimited):
        check_send_rate(owner=Owner(anon_id="someone-else"), ip="10.0.0.9")


def test_owners_do_not_share_a_budget(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "1/h"
    check_send_rate(owner=Owner(user_id=1), ip="10.0.0.1")
    check_send_rate(owner=Owner(user_id=2), ip="10.0.0.2")


def test_the_message_says_when_to_retry_in_words() -> None:
    assert RateLimited(retry_after=1).message.endswith("Try again in 1 second.")
    assert RateLimited(retry_after=0).message.endswith("Try again in 1 second.")
    assert RateLimited(retry_after=45).message.endswith("Try again in 45 seconds.")
    assert RateLimited(retry_after=600).message.endswith("Try again in 10 minutes.")


def test_batched_checks_share_django_ratelimits_counters(settings: Any) -> None:
    """On Redis the batch is pipelined; the counters must stay django-ratelimit's own."""
    from django_ratelimit.core import get_usage

    from chat.ratelimits import SEND_GROUP, _request_for, check_send_rates

    settings.ORION_RATE_LIMIT = "5/h"
    owner = Owner(user_id=7)
    assert check_send_rates(senders=[(owner, "10.1.1.1")]) == [None]
    check_send_rate(owner=owner, ip="10.1.1.1")
    usage = get_usage(
        _request_for(owner, "10.1.1.1"),
        group=SEND_GROUP,
        key="chat.ratelimits.owner_key",
        rate="5/h",
        increment=False,
    )
    assert usage is not None and usage["count"] == 2


def test_a_batch_over_the_limit_refuses_only_the_excess(settings: Any) -> None:
    from chat.ratelimits import check_send_rates

    settings.ORION_RATE_LIMIT = "2/h"
    owner = Owner(user_id=8)
    results = check_send_rates(senders=[(owner, f"10.2.2.{n}") for n in range(3)])
    assert results[:2] == [None, None]
    assert isinstance(results[2], RateLimited) and results[2].retry_after > 0
