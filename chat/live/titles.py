"""Titling a conversation after its first exchange: ask the model, store, tell open pages."""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from agents.pipeline import title_suggest
from chat.live.frames import group_name, title_frame
from chat.selectors import conversation_opening
from chat.services import conversation_title_set


def conversation_title_update(*, conversation_id: uuid.UUID) -> str | None:
    """Title an untitled conversation from its first message; None if there is nothing to do
    (it has a title, no message yet, or was renamed meanwhile). Idempotent."""
    opening = conversation_opening(conversation_id=conversation_id)
    if not opening:
        return None
    title = async_to_sync(title_suggest)(opening)
    conversation = conversation_title_set(conversation_id=conversation_id, title=title)
    if conversation is None:
        return None
    async_to_sync(get_channel_layer().group_send)(
        group_name(conversation_id),
        {"type": "conversation.titled", "html": title_frame(conversation)},
    )
    return title
