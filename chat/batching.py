"""Group commits: one round trip (or thread hop) for every burst of work from the event loop.

Each ``database_sync_to_async`` call hands work to the database thread, and every query
in it gives up the GIL and must win it back from a busy event loop (up to the 5 ms switch
interval each time). A hundred people sending at once would queue a hundred hops of
several queries each, so concurrent submissions share one hop instead. A batch of sends
is taken once nothing has been added to it for a millisecond and a few loop passes (so a
burst read over a few milliseconds goes in one piece, and a lone send waits a
millisecond); other batches once a pass of the event loop adds nothing. Whatever arrives
while a batch runs goes together in the next.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")
BURST_QUIET = 0.001  # seconds without a new send that end a batch of sends
_QUIET_PASSES = 4  # and loop passes without one
_MAX_SETTLE = 0.01  # the longest a batch waits for more
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self, work: Callable[[list[T]], Awaitable[Sequence[R | Exception]]], *, quiet: float = 0.0
    ) -> None:
        """``work`` gets a list of items and returns one result (or exception) per item.

        A batch is taken once nothing has been added to it for ``quiet`` seconds (with 0, once
        a pass of the event loop adds nothing), or after ``_MAX_SETTLE`` at the most.
        """
        self._work = work
        self._quiet = quiet
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
        """Let the event loop go round until the queue has been still for a moment.

        A burst of sends arrives over a few milliseconds (the clients' frames trickle in,
        the sockets are read in one pass and the consumers run in later ones); taking the
        queue at the first pass that adds nothing would split it into a batch of a few and a
        batch of the rest that waits for the first.
        """
        loop = asyncio.get_running_loop()
        started = last_change = loop.time()
        queued = len(self._queue)
        # A frame read in one pass reaches ``submit`` a few passes later, so a long pass
        # spent reading sockets adds nothing yet: stillness must also last a few passes.
        passes_needed = _QUIET_PASSES if self._quiet else 1
        still = 0
        while True:
            await asyncio.sleep(0)
            now = loop.time()
            if len(self._queue) != queued:
                queued, last_change, still = len(self._queue), now, 0
                continue
            still += 1
            if now - started >= _MAX_SETTLE:
                return
            if now - last_change >= self._quiet:
                if still >= passes_needed:
                    return
            else:  # wait out the rest of the quiet moment (a new frame wakes the loop anyway)
                await asyncio.sleep(min(last_change + self._quiet, started + _MAX_SETTLE) - now)


GC_MAX_DEFER = 0.25  # seconds: the longest overlapping bursts keep the collector off


class _GcDeferral:
    holders = 0
    off_since: float | None = None  # when the collector was turned off here (None: it was not)
    timer: asyncio.TimerHandle | None = None

    @classmethod
    def restore(cls) -> None:
        if cls.off_since is not None:
            gc.enable()
            cls.off_since = None
        if cls.timer is not None:
            cls.timer.cancel()
            cls.timer = None


@contextmanager
def gc_deferred() -> Iterator[None]:
    """Keep Python's cyclic garbage collector off while the body runs (on the event loop).

    A burst of sends allocates enough to trigger several collections, and one of an older
    generation takes ~5 ms: that is time between every person in the burst and their
    first token. With the collector off until the burst's model requests are out, the
    collection runs once, afterwards, while the model thinks. Overlapping holders share
    one deferral, which never lasts past ``GC_MAX_DEFER`` (a timer turns the collector
    back on even if a holder is stuck); a collector that was off already stays off.
    """
    state = _GcDeferral
    if state.holders == 0 and gc.isenabled():
        gc.disable()
        state.off_since = time.monotonic()
        try:
            state.timer = asyncio.get_running_loop().call_later(GC_MAX_DEFER, state.restore)
        except RuntimeError:  # no event loop: the holders' own exits restore it
            state.timer = None
    state.holders += 1
    try:
        yield
    finally:
        state.holders -= 1
        if state.off_since is not None and (
            state.holders == 0 or time.monotonic() - state.off_since > GC_MAX_DEFER
        ):
            state.restore()
