"""Slow-path tasks without a broker: run in-process, off the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from asgiref.sync import sync_to_async

from agents.tasks import enqueue


class Recorder:
    """Stands in for a Celery task: ``enqueue`` only calls ``apply`` and reads ``name``."""

    name = "tests.record"

    def __init__(self, expected: int) -> None:
        self.calls: list[tuple[int, int]] = []  # (argument, thread ident)
        self.expected = expected
        self.done = threading.Event()
        self.lock = threading.Lock()

    def apply(self, *, args: tuple[Any, ...]) -> None:
        with self.lock:
            self.calls.append((args[0], threading.get_ident()))
            if len(self.calls) == self.expected:
                self.done.set()


async def test_a_burst_of_in_process_tasks_runs_on_a_few_threads(settings: Any) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    task = Recorder(expected=50)
    caller = threading.get_ident()

    def queue_them() -> None:  # as transaction.on_commit does, on the database thread
        for index in range(50):
            enqueue(task, index)  # type: ignore[arg-type]

    await sync_to_async(queue_them)()
    assert await asyncio.to_thread(task.done.wait, 10)
    assert sorted(argument for argument, _ in task.calls) == list(range(50))
    threads = {ident for _, ident in task.calls}
    assert 1 <= len(threads) <= 4 and caller not in threads
