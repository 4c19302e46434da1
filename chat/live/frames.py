"""The HTML fragments sent over the socket (``templates/chat/ws/``), swapped in by htmx."""

from __future__ import annotations

import uuid
from functools import cache

from chat.models import Conversation, Message
from chat.rendering import render_fragment
from chat.services import ReplyJob


def group_name(conversation_id: uuid.UUID | str) -> str:
    """The channel-layer group of every socket open on a conversation."""
    return f"conversation.{conversation_id}"


def message_frame(message: Message) -> str:
    """The message as it stands, swapped in whole on every page that shows it."""
    return render_fragment("message", {"m": message})


def exchange_frame(job: ReplyJob) -> str:
    """The new user message and its pending reply (or, for a retry, the reset reply)."""
    if job.user_message is None:
        return message_frame(job.reply)
    return render_fragment("exchange", {"user_message": job.user_message, "reply": job.reply})


def delta_frame(message_id: int, text: str) -> str:
    """Text appended to a streaming reply."""
    return render_fragment("delta", {"message_id": message_id, "text": text})


def snapshot_frame(conversation: Conversation, messages: list[Message]) -> str:
    """Every message of the conversation, and its title, swapped in whole."""
    return render_fragment("snapshot", {"conversation": conversation, "messages": messages})


def title_frame(conversation: Conversation) -> str:
    return render_fragment("title", {"conversation": conversation})


@cache
def accepted_frame(*, clear_composer: bool) -> str:
    return render_fragment("accepted", {"clear_composer": clear_composer})


def error_frame(message: str) -> str:
    return render_fragment("error", {"message": message})
