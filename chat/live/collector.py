"""Keeping Python's cyclic garbage collector out of the way of a burst of sends.

A burst allocates enough to trigger several collections, and one of an older generation
stalls the event loop: time between every person in the burst and their first token.
With the collector off from a send's admission until its model request is out, the
collection runs once, afterwards, while the model thinks (bench/README.md, "Decisions").
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager

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
    """Keep the collector off while the body runs (on the event loop).

    Overlapping holders share one deferral, which never lasts past ``GC_MAX_DEFER`` (a
    timer turns the collector back on even if a holder is stuck); a collector that was
    off already stays off.
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
