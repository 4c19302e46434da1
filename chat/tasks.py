from __future__ import annotations

import uuid

from celery import shared_task

from chat.live.titles import conversation_title_update
from chat.services import conversation_summary_update
from project.tasks import TASK_OPTIONS


@shared_task(**TASK_OPTIONS)
def conversation_title_generate(conversation_id: str) -> str | None:
    """Title a conversation from its first message and update open pages. Idempotent."""
    return conversation_title_update(conversation_id=uuid.UUID(conversation_id))


@shared_task(**TASK_OPTIONS)
def conversation_summarise(conversation_id: str) -> str | None:
    """Summarise the turns a long conversation's history leaves out. Idempotent."""
    return conversation_summary_update(conversation_id=uuid.UUID(conversation_id))
