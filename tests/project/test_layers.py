"""The Redis channel layer: a client-side read timeout, Redis unreachable, Redis restarted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer as Upstream
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from project.layers import RedisChannelLayer


def _upstream_gives(monkeypatch: pytest.MonkeyPatch, *outcomes: Any) -> None:
    """channels-redis's own wait raises or returns these, one per call."""
    left = list(outcomes)

    async def receive(self: Upstream, channel: str) -> dict[str, Any]:
        outcome = left.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return dict(outcome)

    monkeypatch.setattr(Upstream, "receive", receive)


async def test_a_read_timeout_while_waiting_is_waited_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _upstream_gives(monkeypatch, RedisTimeoutError("Timeout reading"), {"type": "chat.frame"})
    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:6379/9"])
    assert await layer.receive("specific.abc!def") == {"type": "chat.frame"}


async def test_a_server_that_keeps_timing_out_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    async def receive(self: Upstream, channel: str) -> dict[str, Any]:
        raise RedisTimeoutError("Timeout reading")

    monkeypatch.setattr(Upstream, "receive", receive)
    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:6379/9"])
    with pytest.raises(RedisTimeoutError):
        await layer.receive("specific.abc!def")


async def test_a_wait_outlives_redis_being_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    _upstream_gives(monkeypatch, RedisConnectionError("refused"), {"type": "chat.frame"})
    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:6379/9"])
    assert await layer.receive("specific.abc!def") == {"type": "chat.frame"}
    assert layer.recovery is not None and layer.recovery.done()
    await layer.close_pools()


async def test_groups_are_joined_again_when_redis_comes_back_empty() -> None:
    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:6379/9"], prefix="orion-test-rejoin")
    channel = await layer.new_channel()
    await layer.group_add("conversation.x", channel)
    await layer.group_add("conversation.y", channel)
    await layer.group_discard("conversation.y", channel)
    await layer.flush()  # what a restart without persistence leaves: no groups
    await layer.group_send("conversation.x", {"type": "lost"})

    await layer.rejoin()
    await layer.group_send("conversation.x", {"type": "heard"})
    assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "heard"}
    assert dict(layer.memberships) == {"conversation.x": {channel}}
    await layer.flush()
