from __future__ import annotations

import uuid

from celery import shared_task

from chat.live.titles import conversation_title_update


@shared_task(
    acks_late=True,
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def conversation_title_generate(conversation_id: str) -> str | None:
    """Title a conversation from its first message and update open pages. Idempotent."""
    return conversation_title_update(conversation_id=uuid.UUID(conversation_id))
