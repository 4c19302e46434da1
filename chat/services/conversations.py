"""Writes on conversations."""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models import Q

from agents.pipeline import summary_write
from chat.models import Conversation
from chat.owners import Owner
from chat.selectors import conversation_turns_to_summarise
from chat.validation import clean_title


def conversation_create(*, owner: Owner) -> Conversation:
    return Conversation.objects.create(owner_user_id=owner.user_id, owner_anon=owner.anon_id or "")


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = clean_title(title)
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


def conversations_claim(*, anon_id: str, user_id: int) -> int:
    """Move a visitor's conversations to the account they just logged into."""
    return Conversation.objects.filter(owner_user__isnull=True, owner_anon=anon_id).update(
        owner_user_id=user_id, owner_anon=""
    )


def conversation_title_set(*, conversation_id: uuid.UUID, title: str) -> Conversation | None:
    """Give an untitled conversation ``title``; None if it has one by now (the person's
    own choice wins) or is gone."""
    if not Conversation.objects.filter(pk=conversation_id, title="").update(title=title):
        return None
    return Conversation.objects.filter(pk=conversation_id).first()


def conversation_summary_update(*, conversation_id: uuid.UUID) -> str | None:
    """Bring a long conversation's summary up to date with the turns its history leaves out
    (the model writes it, agents.pipeline.memory); None if there was nothing to do or no
    model could. Idempotent: a summary covers the turns up to ``summary_through``."""
    summary, turns, through = conversation_turns_to_summarise(
        conversation_id=conversation_id, limit=settings.ORION_HISTORY_MESSAGES
    )
    if not turns:
        return None
    written = async_to_sync(summary_write)(summary, turns)
    if not written:
        return None
    # Only forward: a slower task that read fewer turns does not overwrite a newer summary.
    Conversation.objects.filter(pk=conversation_id).filter(
        Q(summary_through__isnull=True) | Q(summary_through__lt=through)
    ).update(summary=written, summary_through=through)
    return written
