"""Running slow-path tasks: on a Celery worker, or in-process without a broker."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from asgiref.sync import SyncToAsync
from celery import Task
from django.conf import settings

logger = logging.getLogger(__name__)


_WORKERS = 4  # in-process task threads: titles wait on the model, they do not compute
_queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_workers: list[threading.Thread] = []
_workers_lock = threading.Lock()


def enqueue(task: Task, *args: Any) -> None:
    """Queue ``task`` now. Call it from ``transaction.on_commit``, never mid-transaction.

    Without a broker (the embedded default) the task runs in-process on one of a few
    daemon threads, so the caller is not held up (a burst of a hundred finished replies
    queues a hundred titles without starting a hundred threads) and a server that stops
    mid-task is not held up either. Called from code running under the ASGI server, the
    task is tied to the server's event loop, so its ``async_to_sync`` calls (the model,
    the channel layer) run there, where the in-memory channel layer lives.
    """
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        task.apply_async(args=args)
        return
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or not loop.is_running():
        task.apply(args=args)
        return

    def run() -> None:
        SyncToAsync.threadlocal.main_event_loop = loop
        SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
        try:
            task.apply(args=args)
        except BaseException:  # the server's loop went away under it (shutdown)
            logger.info("in-process task %s stopped with the server", task.name)
        finally:
            SyncToAsync.threadlocal.main_event_loop = None
            from django.db import connections

            connections.close_all()

    _queue.put(run)
    with _workers_lock:
        if len(_workers) < _WORKERS:
            worker = threading.Thread(target=_work, name="orion-task", daemon=True)
            _workers.append(worker)
            worker.start()


def _work() -> None:
    while True:
        _queue.get()()
