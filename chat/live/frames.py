"""The HTML fragments sent over the socket (``templates/chat/ws/``), swapped in by htmx.

The frames sent most (exchanges, a reply's first text, deltas) are filled in from sketches
(``chat.live.sketches``); the rest are rendered from their templates.
"""

from __future__ import annotations

import uuid
from functools import cache

from chat.live.sketches import exchange_sketch, fragment_renderer, message_sketch
from chat.models import Conversation, Message
from chat.rendering import render_fragment
from chat.services import ReplyJob


def group_name(conversation_id: uuid.UUID | str) -> str:
    """The channel-layer group of every socket open on a conversation."""
    return f"conversation.{conversation_id}"


def message_frame(message: Message) -> str:
    """The message as it stands, swapped in whole on every page that shows it."""
    found = message_sketch(message.role, message.status) if _plain(message) else None
    if found is None:
        return render_fragment("message", {"m": message})
    return found.fill([message.pk, message.content])


def exchange_frame(job: ReplyJob) -> str:
    """The new user message and its pending reply (or, for a retry, the reset reply)."""
    user, reply = job.user_message, job.reply
    if user is None:
        return message_frame(reply)
    found = (
        exchange_sketch(user.role, user.status, reply.role, reply.status)
        if _plain(user) and _plain(reply)
        else None
    )
    if found is None:
        return render_fragment("exchange", {"user_message": user, "reply": reply})
    return found.fill([user.pk, user.content, reply.pk, reply.content])


def _plain(message: Message) -> bool:
    """Shown with its id and text as they are: a person's message as sent, or a reply not
    yet finished (not markdown, nor a reason for failing and Retry)."""
    if message.role == Message.Role.USER:
        return message.status == Message.Status.COMPLETE
    return message.is_live


_delta = fragment_renderer("delta", "message_id", "text")


def delta_frame(message_id: int, text: str) -> str:
    """Text appended to a streaming reply."""
    return _delta(message_id=message_id, text=text)


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
