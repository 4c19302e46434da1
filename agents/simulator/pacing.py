"""The token schedule: when each token of each streamed reply is written.

Token ``i`` of a reply is due at ``t_first + i * interval``, an absolute time, so a late
wake-up never shifts the tokens after it. One ``Pacer`` per simulator drives every stream
from a single loop timer; each ``TokenStream`` writes the tokens that are due when asked
(a ``FrameStream``, the chunks of a turn of tool calls).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections.abc import Iterator

from agents.simulator.stats import SimStats
from agents.simulator.wire import escaped

logger = logging.getLogger(__name__)

# A token may be written this much before its due time: asyncio wakes timers up to one
# clock resolution early and re-arming a timer for a few microseconds costs a loop iteration.
EARLY_TOLERANCE_S = 0.0001


class TokenStream:
    """The state of one streamed reply; the ``Pacer`` calls ``emit`` when tokens are due.

    A coroutine sleeping per token would cost a Future, a Task step and two loop handles for
    every token. Here a token costs a heap push/pop of a plain tuple, one bytes format and one
    write. Tokens that are due together (high rates, or a late wake-up) share one write.
    """

    __slots__ = (
        "_loop", "_transport", "_stats", "_prefix", "_suffix", "_fixed_len", "_tokens", "_count",
        "t_first", "_interval", "_drop_at", "_tail", "_index", "done",
    )  # fmt: skip

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.BaseTransport,
        stats: SimStats,
        prefix: bytes,
        suffix: bytes,
        tokens: Iterator[str],
        count: int,
        t_first: float,
        interval: float,
        drop_at: int | None,
        tail: bytes,
    ) -> None:
        self._loop = loop
        self._transport = transport
        self._stats = stats
        self._prefix = prefix
        self._suffix = suffix
        self._fixed_len = len(prefix) + len(suffix)
        self._tokens = tokens
        self._count = count
        self.t_first = t_first
        self._interval = interval
        self._drop_at = drop_at
        self._tail = tail
        self._index = 0
        # Result: "done" (finished normally), "dropped" (simulated failure), "gone" (client
        # went away or shutdown), so the handler knows whether the connection may be reused.
        self.done: asyncio.Future[str] = loop.create_future()

    def cancel(self) -> None:
        """Stop writing; the pacer forgets the stream the next time it comes due."""
        if not self.done.done():
            self.done.set_result("gone")

    def emit(self) -> float | None:
        """Write every token due by now; return when the next one is due, None when over."""
        if self.done.done():
            return None
        transport = self._transport
        if transport.is_closing():  # client hung up; stop spending time on it
            self.done.set_result("gone")
            return None
        # Read the clock per stream, not once per pacer wake-up: earlier streams' writes in
        # the same wake-up take time, and lateness must include it.
        now = self._loop.time()
        horizon = now + EARLY_TOLERANCE_S
        tokens = self._tokens
        count = self._count
        index = self._index
        drop_at = self._drop_at
        parts: list[bytes] = []
        stats = self._stats
        while index < count and index != drop_at:
            due = self.t_first + index * self._interval  # absolute: no drift accumulates
            if due > horizon:
                break
            token = escaped(next(tokens))
            parts.append(
                b"%x\r\n%b%b%b\r\n"
                % (self._fixed_len + len(token), self._prefix, token, self._suffix)
            )
            stats.record_lateness(now - due)
            index += 1
        stats.tokens += index - self._index
        self._index = index
        if index == drop_at:
            if parts:
                transport.write(b"".join(parts))  # type: ignore[attr-defined]
            # close() (not abort()) flushes the tokens already promised, then sends FIN with
            # the chunked body unfinished: exactly what a crashed upstream looks like.
            transport.close()
            stats.drops += 1
            self.done.set_result("dropped")
            return None
        if index >= count:
            parts.append(self._tail)
            transport.write(b"".join(parts))  # type: ignore[attr-defined]
            self.done.set_result("done")
            return None
        if parts:
            transport.write(b"".join(parts))  # type: ignore[attr-defined]
        return self.t_first + index * self._interval


class FrameStream(TokenStream):
    """A stream of chunks built up front (a turn of tool calls): frame ``i`` is written
    when token ``i`` would be, and counts as one in the stats; ``drop_at`` and ``tail``
    work as for tokens."""

    __slots__ = ("_frames",)

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.BaseTransport,
        stats: SimStats,
        frames: list[bytes],
        t_first: float,
        interval: float,
        drop_at: int | None,
        tail: bytes,
    ) -> None:
        super().__init__(
            loop, transport, stats, b"", b"", iter(()), len(frames), t_first, interval,
            drop_at, tail,
        )  # fmt: skip
        self._frames = frames

    def emit(self) -> float | None:
        """Write every frame due by now; return when the next one is due, None when over."""
        if self.done.done():
            return None
        transport = self._transport
        if transport.is_closing():
            self.done.set_result("gone")
            return None
        now = self._loop.time()
        horizon = now + EARLY_TOLERANCE_S
        index = start = self._index
        parts: list[bytes] = []
        while index < self._count and index != self._drop_at:
            due = self.t_first + index * self._interval
            if due > horizon:
                break
            parts.append(self._frames[index])
            self._stats.record_lateness(now - due)
            index += 1
        self._stats.tokens += index - start
        self._index = index
        if index == self._drop_at:
            if parts:
                transport.write(b"".join(parts))  # type: ignore[attr-defined]
            transport.close()
            self._stats.drops += 1
            self.done.set_result("dropped")
            return None
        if index >= self._count:
            parts.append(self._tail)
        if parts:
            transport.write(b"".join(parts))  # type: ignore[attr-defined]
        if index >= self._count:
            self.done.set_result("done")
            return None
        return self.t_first + index * self._interval


class Pacer:
    """Drives every stream of a simulator from a single loop timer.

    asyncio's own timer heap holds TimerHandles compared by a Python-level ``__lt__``, and
    every ``call_at`` allocates two objects; with thousands of tokens per second that
    bookkeeping cost more than writing the tokens. Here the heap holds ``(due, seq, stream)``
    tuples (compared in C) and the loop only ever knows about the earliest one.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, TokenStream]] = []
        self._seq = itertools.count()  # tie-breaker so streams themselves are never compared
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = math.inf

    def add(self, stream: TokenStream) -> None:
        # Even an empty reply (or a drop at 0) waits for the time to first token.
        heapq.heappush(self._heap, (stream.t_first, next(self._seq), stream))
        if stream.t_first < self._timer_due:
            self._arm(stream.t_first)

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(due, self._fire)
        self._timer_due = due

    def _fire(self) -> None:
        self._timer = None
        self._timer_due = math.inf
        heap = self._heap
        horizon = self._loop.time() + EARLY_TOLERANCE_S
        while heap and heap[0][0] <= horizon:
            stream = heapq.heappop(heap)[2]
            try:
                next_due = stream.emit()
            except Exception:  # one broken stream must not stall every other one
                logger.exception("LLM simulator stream failed")
                stream.cancel()
                continue
            if next_due is not None:
                heapq.heappush(heap, (next_due, next(self._seq), stream))
        if heap:
            self._arm(heap[0][0])
