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
