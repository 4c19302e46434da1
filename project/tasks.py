"""Queueing slow-path tasks: on a Celery worker with a broker, in-process without one."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from celery import Task
from django.conf import settings

logger = logging.getLogger(__name__)

# In-process tasks wait on the model, they do not compute: a few threads carry a burst.
_in_process = ThreadPoolExecutor(max_workers=4, thread_name_prefix="orion-task")
_running: set[asyncio.Task[None]] = set()


def enqueue(task: Task, *args: Any) -> None:
    """Queue ``task`` from synchronous code (a view, ``transaction.on_commit``).

    Without a broker (the embedded default) it runs here and now, as Celery's eager mode does.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        task.apply(args=args)
    else:
        task.apply_async(args=args)


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
    run = sync_to_async(_apply, thread_sensitive=False, executor=_in_process)
    running = asyncio.ensure_future(run(task, args))
    _running.add(running)
    running.add_done_callback(_running.discard)


def _apply(task: Task, args: tuple[Any, ...]) -> None:
    from django.db import close_old_connections

    try:
        task.apply(args=args)
    except Exception:
        logger.exception("in-process task %s failed", task.name)
    finally:
        close_old_connections()
