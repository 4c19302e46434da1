"""The Redis channel layer's retry of a client-side read timeout."""

from __future__ import annotations

from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer as Upstream
from redis.exceptions import TimeoutError as RedisTimeoutError

from project.layers import RedisChannelLayer


async def test_a_read_timeout_while_waiting_is_waited_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcomes: list[Any] = [RedisTimeoutError("Timeout reading"), {"type": "chat.frame"}]

    async def receive(self: Upstream, channel: str) -> dict[str, Any]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return dict(outcome)

    monkeypatch.setattr(Upstream, "receive", receive)
    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:6379/9"])
    assert await layer.receive("specific.abc!def") == {"type": "chat.frame"}


async def test_a_server_that_keeps_timing_out_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    async def receive(self: Upstream, channel: str) -> dict[str, Any]:
        raise RedisTimeoutError("Timeout reading")

    monkeypatch.setattr(Upstream, "receive", receive)
    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:6379/9"])
    with pytest.raises(RedisTimeoutError):
        await layer.receive("specific.abc!def")
