from __future__ import annotations

from chat.ratelimits import RateLimited


def test_the_message_says_when_to_retry_in_words() -> None:
    assert RateLimited(retry_after=1).message.endswith("Try again in 1 second.")
    assert RateLimited(retry_after=0).message.endswith("Try again in 1 second.")
    assert RateLimited(retry_after=45).message.endswith("Try again in 45 seconds.")
    assert RateLimited(retry_after=600).message.endswith("Try again in 10 minutes.")
