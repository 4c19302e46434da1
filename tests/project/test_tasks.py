"""Slow-path tasks without a broker: run in-process, off the event loop, back on it for
their async calls."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from asgiref.sync import async_to_sync

from project.tasks import aenqueue


class Recorder:
    """Stands in for a Celery task: the queueing functions call ``apply`` and read ``name``."""

    name = "tests.record"

    def __init__(self, expected: int) -> None:
        self.calls: list[tuple[int, int]] = []  # (argument, thread ident)
        self.loops: list[asyncio.AbstractEventLoop] = []
        self.expected = expected
        self.done = threading.Event()
        self.lock = threading.Lock()

    def apply(self, *, args: tuple[Any, ...]) -> None:
        loop = async_to_sync(self._running_loop)()  # as a task's model or layer call does
        with self.lock:
            self.calls.append((args[0], threading.get_ident()))
            self.loops.append(loop)
            if len(self.calls) == self.expected:
                self.done.set()

    async def _running_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()


async def test_a_burst_of_in_process_tasks_runs_on_a_few_threads_and_this_loop(
    settings: Any,
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    task = Recorder(expected=50)
    for index in range(50):
        await aenqueue(task, index)  # type: ignore[arg-type]
    assert await asyncio.to_thread(task.done.wait, 10)
    assert sorted(argument for argument, _ in task.calls) == list(range(50))
    threads = {ident for _, ident in task.calls}
    assert 1 <= len(threads) <= 4 and threading.get_ident() not in threads
    assert set(task.loops) == {asyncio.get_running_loop()}


def test_with_a_broker_tasks_are_sent_to_it(settings: Any) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    sent: list[tuple[Any, ...]] = []

    class Task:
        name = "tests.sent"

        def apply_async(self, *, args: tuple[Any, ...]) -> None:
            sent.append(args)

    async_to_sync(aenqueue)(Task(), 2)  # type: ignore[arg-type]
    assert sent == [(2,)]
