"""Running slow-path tasks: on a Celery worker, or in-process without a broker."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from celery import Task
from django.conf import settings

logger = logging.getLogger(__name__)


def enqueue(task: Task, *args: Any) -> None:
    """Queue ``task`` now. Call it from ``transaction.on_commit``, never mid-transaction.

    Without a broker (the embedded default) the task runs in-process on a worker thread
    so the caller is not held up; when called from code running under the ASGI server the
    thread is started from the server's event loop, so the task can reach the in-memory
    channel layer safely.
    """
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        task.apply_async(args=args)
        return
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop.is_running():
        run = sync_to_async(task.apply, thread_sensitive=False)
        loop.call_soon_threadsafe(lambda: loop.create_task(run(args=args)))
    else:
        task.apply(args=args)
