"""Reads. Every owned object is fetched through the one access helper below."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import Http404

from chat.models import Conversation, Message
from chat.owners import Owner


def _owned_by(owner: Owner) -> Q:
    if owner.user_id is not None:
        return Q(owner_user_id=owner.user_id)
    return Q(owner_user__isnull=True, owner_anon=owner.anon_id)


def conversation_list(*, owner: Owner, limit: int = 100) -> QuerySet[Conversation]:
    return Conversation.objects.filter(_owned_by(owner), archived=False).order_by("-updated_at")[
        :limit
    ]


def conversation_get_for_owner(*, owner: Owner | None, pk: uuid.UUID | str) -> Conversation:
    """The conversation if ``owner`` may see it; 404 for anything else, never a leak."""
    if owner is None:
        raise Http404("No such conversation")
    try:
        return Conversation.objects.get(_owned_by(owner), pk=pk)
    except (Conversation.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404("No such conversation") from None


def message_list(*, conversation: Conversation) -> list[Message]:
    return list(conversation.messages.exclude(role=Message.Role.SYSTEM).order_by("id"))


# Turns the model sees: the user's, and the assistant's that finished.
_model_input = Q(role=Message.Role.USER) | Q(
    role=Message.Role.ASSISTANT, status=Message.Status.COMPLETE
)


def message_history(
    *, conversation_id: uuid.UUID, limit: int, before_id: int | None = None
) -> list[dict[str, str]]:
    """The last ``limit`` turns as model input: user turns and finished assistant turns."""
    qs = Message.objects.filter(conversation_id=conversation_id).filter(_model_input)
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    rows = list(qs.order_by("-id").values_list("role", "content")[:limit])
    rows.reverse()
    return [{"role": role, "content": content} for role, content in rows]


def message_histories(
    *, conversation_ids: list[uuid.UUID], limit: int
) -> dict[uuid.UUID, list[dict[str, str]]]:
    """``message_history`` for several conversations in one query (a burst of sends)."""
    histories: dict[uuid.UUID, list[dict[str, str]]] = {pk: [] for pk in conversation_ids}
    if not conversation_ids:
        return histories
    recent = (
        Message.objects.filter(conversation_id__in=conversation_ids)
        .filter(_model_input)
        .annotate(
            n=Window(RowNumber(), partition_by=[F("conversation_id")], order_by=F("id").desc())
        )
        .filter(n__lte=limit)
        .order_by("id")
        .values_list("conversation_id", "role", "content")
    )
    for conversation_id, role, content in recent:
        histories[conversation_id].append({"role": role, "content": content})
    return histories


def conversation_opening(*, conversation_id: uuid.UUID) -> str | None:
    """The first message of a conversation that has no title yet, else None."""
    return (
        Message.objects.filter(
            conversation_id=conversation_id,
            conversation__title="",
            role=Message.Role.USER,
        )
        .order_by("id")
        .values_list("content", flat=True)
        .first()
    )
