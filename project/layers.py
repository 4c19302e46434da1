"""The Redis channel layer, surviving its client's read timeout under load.

channels-redis waits for messages with a blocking pop that the server ends after 5 s;
redis-py 8 gives up reading after 5 s by default. On a busy event loop the client's timer
can win that race, and the error ended the consumer: its socket closed with 1011. A
timed-out wait is retried here instead (the server had nothing to give, or will pop the
message for the next wait).
"""

from __future__ import annotations

import logging
from typing import Any

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_RETRIES = 3


class RedisChannelLayer(_RedisChannelLayer):  # type: ignore[misc]
    async def receive(self, channel: str) -> dict[str, Any]:
        for attempt in range(_RETRIES):
            try:
                message: dict[str, Any] = await super().receive(channel)
            except RedisTimeoutError:
                if attempt == _RETRIES - 1:
                    raise
                logger.info("channel layer read timed out; waiting again")
                continue
            return message
        raise AssertionError("unreachable")  # pragma: no cover
