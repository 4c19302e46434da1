"""Queueing slow-path tasks: on a Celery worker with a broker, in-process without one."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial
from typing import Any

from asgiref.sync import sync_to_async
from celery import Task
from django.conf import settings

logger = logging.getLogger(__name__)

# Delivered at least once (acknowledged when done), retried while the broker is away.
TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (ConnectionError,),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 3,
}


class _DaemonThreads(Executor):
    """A few daemon threads: a server that stops mid-task is not held up by it (a task
    waiting on the stopped server's loop would keep a ``ThreadPoolExecutor``'s thread,
    which the interpreter joins at exit, waiting for ever)."""

    def __init__(self, workers: int) -> None:
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._work.put((future, partial(fn, *args, **kwargs)))
        with self._lock:
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._run, name="orion-task", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _run(self) -> None:
        while True:
            future, call = self._work.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)


# In-process tasks wait on the model, they do not compute: a few threads carry a burst.
_in_process = _DaemonThreads(workers=4)
_running: set[asyncio.Future[None]] = set()


async def aenqueue(task: Task, *args: Any) -> None:
    """Queue ``task`` from the event loop, once what it reads is committed.

    Without a broker the task runs on one of a few worker threads started from this loop, so
    the caller is not held up, and any ``async_to_sync`` call inside it (the model, the
    channel layer) runs back on this loop, where the in-memory channel layer lives: asgiref
    does that for threads that ``sync_to_async`` started.
    """
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        await sync_to_async(task.apply_async, thread_sensitive=False)(args=args)
        return
    # (asgiref hands the executor to loop.run_in_executor, which takes any Executor.)
    run = sync_to_async(_apply, thread_sensitive=False, executor=_in_process)  # type: ignore[call-overload]
    running = asyncio.ensure_future(run(task, args))
    _running.add(running)
    running.add_done_callback(_running.discard)


def enqueue(task: Task, *args: Any) -> None:
    """Queue ``task`` from synchronous code (a view, a command), once the transaction
    around the call commits; without a broker on one of the in-process threads."""
    from django.db import transaction

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: task.apply_async(args=args))
    else:
        transaction.on_commit(lambda: _in_process.submit(_apply, task, args))


async def tasks_settle(timeout: float) -> None:
    """Wait up to ``timeout`` seconds for the in-process tasks started from this loop (a
    loop that ends while one of its tasks waits on it would hold that task's thread)."""
    loop = asyncio.get_running_loop()
    mine = [f for f in _running if f.get_loop() is loop]
    if mine:
        await asyncio.wait(mine, timeout=timeout)


def _apply(task: Task, args: tuple[Any, ...]) -> None:
    from django.db import close_old_connections

    try:
        task.apply(args=args)
    except Exception:
        logger.exception("in-process task %s failed", task.name)
    finally:
        close_old_connections()
