"""What a burst of finished replies leaves behind: their runs and steps, and their answers
for the cache. Called by the chat inside the transaction of the replies' final update."""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction

from agents.pipeline.cache import answers_cache_store
from agents.pipeline.records import RunRecord, runs_insert

logger = logging.getLogger(__name__)


def runs_store(*, finished: list[tuple[int | None, RunRecord, str, str]]) -> None:
    """Store ``(message_id, run, outcome, error_code)`` for each finished reply; answers
    that completed go to the cache (only those whose reply completed). Each in a savepoint
    of its own: a record that cannot be written never costs a reply its final write."""
    if not finished:
        return
    try:
        with transaction.atomic():
            runs_insert(finished=finished)
    except DatabaseError as exc:
        if not transaction.get_connection().in_atomic_block:
            raise  # no surrounding transaction: the database itself is away
        logger.warning("%d runs not recorded: %s", len(finished), exc)
    puts = [
        run.cache_put
        for _, run, outcome, _ in finished
        if run.cache_put is not None and outcome == "complete"
    ]
    if not puts:
        return
    try:
        with transaction.atomic():  # a savepoint: the cache never costs a reply its write
            answers_cache_store(puts)
    except Exception as exc:
        logger.warning("answers not cached: %s", exc)
