"""The Redis channel layer, surviving its client's read timeouts and Redis restarts.

channels-redis waits for messages with a blocking pop that the server ends after 5 s;
redis-py 8 gives up reading after 5 s by default. On a busy event loop the client's timer
can win that race, and the error ended the consumer: its socket closed with 1011. A
timed-out wait is retried here instead (the server had nothing to give, or will pop the
message for the next wait).

While Redis is unreachable (restarting, say) a wait is retried with a growing pause
instead of ending the consumer: the page's socket stays open, the replies this process
generates keep streaming to it, and events flow again once Redis is back. A Redis that
restarts empty has forgotten every group: the memberships made here are made again as
soon as it answers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import defaultdict
from typing import Any

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_RETRIES = 3
_PAUSES = (0.2, 0.5, 1.0, 2.0)  # seconds between waits while Redis is unreachable


class RedisChannelLayer(_RedisChannelLayer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.memberships: defaultdict[str, set[str]] = defaultdict(set)
        self.recovery: asyncio.Task[None] | None = None  # while Redis is unreachable

    async def group_add(self, group: str, channel: str) -> None:
        await super().group_add(group, channel)
        self.memberships[group].add(channel)

    async def group_discard(self, group: str, channel: str) -> None:
        members = self.memberships.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del self.memberships[group]
        await super().group_discard(group, channel)

    async def rejoin(self) -> None:
        """Make this process's group memberships again (Redis came back empty)."""
        failed, last = 0, None
        for group, channels in list(self.memberships.items()):
            for channel in tuple(channels):
                try:
                    await super().group_add(group, channel)
                except Exception as exc:
                    failed += 1
                    last = exc
        if failed:
            logger.warning("could not join %d groups again: %s", failed, last)

    async def receive(self, channel: str) -> dict[str, Any]:
        timeouts = 0
        while True:
            try:
                message: dict[str, Any] = await super().receive(channel)
            except RedisTimeoutError:
                timeouts += 1
                if timeouts == _RETRIES:
                    raise
                logger.info("channel layer read timed out; waiting again")
                continue
            except RedisConnectionError as exc:
                # Every socket waits on one task that looks for Redis now and then.
                if self.recovery is None or self.recovery.done():
                    logger.warning("Redis is unreachable (%s); the sockets wait for it", exc)
                    self.recovery = asyncio.create_task(self._recover())
                await asyncio.shield(self.recovery)
                continue
            return message

    async def _recover(self) -> None:
        """Wait for Redis to answer, then join this process's groups again. (Only a wait
        that fails notices a restart: so the layer's connections do not retry a command
        that fails on a connection from before one, see project.settings.)"""
        for attempt in itertools.count():
            await asyncio.sleep(_PAUSES[min(attempt, len(_PAUSES) - 1)])
            try:
                for index in range(self.ring_size):
                    await self.connection(index).ping()
            except (RedisConnectionError, RedisTimeoutError):
                continue
            break
        logger.warning("Redis is back")
        try:
            await self.rejoin()
        except Exception:  # the sockets waiting on this must go on whatever happened
            logger.exception("could not join the groups again")
