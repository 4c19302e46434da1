"""Group commits: one round trip (or thread hop) for every burst of work from the event loop.

Each ``database_sync_to_async`` call hands work to the database thread, and every query
in it gives up the GIL and must win it back from a busy event loop (up to the 5 ms switch
interval each time). A hundred people sending at once would queue a hundred hops of
several queries each, so concurrent submissions share one hop instead. A batch is taken
once a pass of the event loop adds nothing to it (so a burst read over a few passes goes
in one piece, and a lone submission waits a pass or two, microseconds); whatever arrives
while it runs goes together in the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
_MAX_SETTLE_PASSES = 8
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(self, work: Callable[[list[T]], Awaitable[Sequence[R | Exception]]]) -> None:
        """``work`` gets a list of items and returns one result (or exception) per item."""
        self._work = work
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._settle()
                batch, self._queue = self._queue, []
                try:
                    results: Sequence[R | Exception] = await self._work([item for item, _ in batch])
                except Exception as exc:
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the submitter went away
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._task = None

    async def _settle(self) -> None:
        """Let the event loop go round until a pass adds nothing (a few passes at most).

        A burst of sends arrives over a few loop passes (the sockets are read in one, the
        consumers run in the next); taking the queue at the first submission would split it
        into a batch of one or two and a batch of the rest that waits for the first.
        """
        for _ in range(_MAX_SETTLE_PASSES):
            queued = len(self._queue)
            await asyncio.sleep(0)
            if len(self._queue) == queued:
                return
