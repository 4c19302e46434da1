"""Group commits: one round trip (or thread hop) for every burst of work from the event loop.

Each ``database_sync_to_async`` call hands work to the database thread, and every query
in it gives up the GIL and must win it back from a busy event loop (up to the 5 ms switch
interval each time). A hundred people sending at once would queue a hundred hops of
several queries each, so concurrent submissions share one hop instead: the first runs at
once, and whatever arrives meanwhile goes together in the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
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
