"""Writes on conversations."""

from __future__ import annotations

import uuid

from chat.models import Conversation
from chat.owners import Owner
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
