"""A server process's start and end, as the replies see them.

- While it serves, the process sweeps now and then for replies nobody generates any more
  (their process was killed mid-answer) and marks them interrupted, text kept, whether or
  not anyone is looking at them.
- When it is told to stop, it takes no more sends, lets the replies it generates finish
  for a grace period (``ORION_SHUTDOWN_GRACE_SECONDS``), then stops the rest: they are
  stored interrupted, with the text they had.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from channels.db import database_sync_to_async
from django.conf import settings

from chat.live.hub import hub
from chat.services import replies_mark_interrupted, replies_orphaned

logger = logging.getLogger(__name__)

# How long the replies stopped at the end of the grace period get to store what they had.
STORE_SECONDS = 10.0


class Sweeper:
    """Marks interrupted the replies found without a lease for longer than ``patience``
    seconds: a process whose lease lapsed while it generated (Redis restarted without its
    data) takes it again at its next refresh, so only a dead process's replies stay
    orphaned that long."""

    def __init__(self, patience: float) -> None:
        self.patience = patience
        self.suspects: dict[int, float] = {}  # reply -> when it was first seen orphaned

    async def sweep(self) -> int:
        here = {live.job.reply.pk for live in hub().replies.values()}
        orphans = await database_sync_to_async(replies_orphaned)(generated_here=here)
        now = asyncio.get_running_loop().time()
        self.suspects = {pk: self.suspects.get(pk, now) for pk in orphans}
        due = [pk for pk, since in self.suspects.items() if now - since >= self.patience]
        swept = await database_sync_to_async(replies_mark_interrupted)(message_ids=due)
        for pk in due:
            del self.suspects[pk]
        if swept:
            logger.warning(
                "marked %d replies interrupted: the server process answering them stopped",
                swept,
            )
        return swept


async def sweep_forever() -> None:
    """Sweep every ``ORION_SWEEP_SECONDS`` (with jitter, so processes spread out); a sweep
    that fails (the database or Redis is away) is tried again next time."""
    sweeper = Sweeper(patience=settings.ORION_GENERATION_LEASE_SECONDS / 3 + 1.0)
    period = settings.ORION_SWEEP_SECONDS
    while True:
        try:
            await sweeper.sweep()
        except Exception as exc:
            logger.warning("could not sweep for interrupted replies: %s", exc)
        await asyncio.sleep(period * random.uniform(0.8, 1.2))  # noqa: S311


async def replies_drain(*, grace: float, hurry: Callable[[], bool] = lambda: False) -> int:
    """Stop taking sends; wait up to ``grace`` seconds (or until ``hurry()``) for the sends
    already taken and the replies being generated here to finish, then stop the rest and
    wait for their text to be stored. Returns how many were stopped."""
    h = hub()
    h.draining = True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    if h.replies or h.sending:
        logger.warning(
            "waiting up to %g s for %d replies to finish (stop again to interrupt them now)",
            grace,
            len(h.replies) + h.sending,
        )
    while (h.replies or h.sending) and loop.time() < deadline and not hurry():
        await asyncio.sleep(0.05)
    left = list(h.replies.values())
    for live in left:
        live.stop()
    tasks = [live.task for live in left if live.task is not None]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=STORE_SECONDS)
        logger.warning("stopped %d replies; they are kept as interrupted", len(left))
        if pending:
            logger.warning("%d replies were not stored in time: the sweep marks them", len(pending))
    return len(left)
