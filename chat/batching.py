"""Group commits: one thread hop for every burst of work from the event loop.

Each ``database_sync_to_async`` call hands work to the database thread. A hundred people
sending at once would queue a hundred hops of several queries each; concurrent
submissions share one hop instead. A batch is taken once nothing has been added to it for
a quiet moment and a few passes of the event loop (a burst of frames is read over a few
milliseconds and reaches ``submit`` a few passes after it was read), or after a longest
wait. Whatever arrives while a batch runs goes together in the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BURST_QUIET = 0.001  # seconds without a new send that end a batch of sends
QUIET_PASSES = 4  # ... and loop passes without one
MAX_SETTLE = 0.01  # the longest a batch waits for more


class Clock(Protocol):
    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock."""

    def time(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Batcher(Generic[T, R]):
    def __init__(
        self,
        work: Callable[[list[T]], Awaitable[Sequence[R | Exception]]],
        *,
        quiet: float = 0.0,
        max_settle: float = MAX_SETTLE,
        clock: Clock | None = None,
    ) -> None:
        """``work`` gets a list of items and returns one result (or exception) per item.

        With ``quiet`` 0, a batch is taken at the first pass of the event loop that adds
        nothing; otherwise once nothing was added for ``quiet`` seconds and
        ``QUIET_PASSES`` passes, or after ``max_settle`` seconds at the most.
        """
        self._work = work
        self._quiet = quiet
        self._max_settle = max_settle
        self._clock = clock or LoopClock()
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
        """Let the event loop go round until the queue has been still for a moment."""
        clock = self._clock
        started = last_change = clock.time()
        queued = len(self._queue)
        passes_needed = QUIET_PASSES if self._quiet else 1
        still = 0
        while True:
            await asyncio.sleep(0)
            now = clock.time()
            if len(self._queue) != queued:
                queued, last_change, still = len(self._queue), now, 0
                continue
            still += 1
            if now - started >= self._max_settle:
                return
            if now - last_change >= self._quiet:
                if still >= passes_needed:
                    return
            else:  # wait out the rest of the quiet moment (a new frame wakes the loop anyway)
                await clock.sleep(min(last_change + self._quiet, started + self._max_settle) - now)
