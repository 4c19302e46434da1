"""Reads. Every owned object is fetched through the one access helper below."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Q, QuerySet
from django.http import Http404

from agents.pipeline import history_fit, with_summary
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


# Turns the model sees: the user's, and the assistant's that finished (``_RECENT_TURNS``
# below says the same in SQL).
_model_input = Q(role=Message.Role.USER) | Q(
    role=Message.Role.ASSISTANT, status=Message.Status.COMPLETE
)


class History(list[dict[str, str]]):
    """The turns the model sees, oldest first; ``truncated`` when older turns were left out
    (by ``limit`` or by the token budget: a summary of them goes first when there is one)."""

    truncated: bool = False


def _history(rows: list[tuple[str, str]], limit: int) -> History:
    turns = [{"role": role, "content": content} for role, content in rows[-limit:]]
    kept = history_fit(turns)
    history = History(turns[len(turns) - kept :])
    history.truncated = len(rows) > limit or kept < len(turns)
    return history


def _summarised(histories: dict[uuid.UUID, History]) -> dict[uuid.UUID, History]:
    """Put each truncated history's summary in front of it (one query, only if any is)."""
    truncated = [pk for pk, history in histories.items() if history.truncated]
    if truncated:
        summaries = Conversation.objects.filter(pk__in=truncated).exclude(summary="")
        for pk, summary in summaries.values_list("pk", "summary"):
            history = History(with_summary(histories[pk], summary))
            history.truncated = True
            histories[pk] = history
    return histories


def message_history(
    *, conversation_id: uuid.UUID, limit: int, before_id: int | None = None
) -> History:
    """The last ``limit`` turns as model input (user turns and finished assistant turns),
    the newest of them that fit the token budget, behind the conversation's summary when
    older ones were left out."""
    qs = Message.objects.filter(conversation_id=conversation_id).filter(_model_input)
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    rows = list(qs.order_by("-id").values_list("role", "content")[: limit + 1])
    rows.reverse()
    return _summarised({conversation_id: _history(rows, limit)})[conversation_id]


def message_histories(*, conversation_ids: list[uuid.UUID], limit: int) -> dict[uuid.UUID, History]:
    """``message_history`` for several conversations in one query (a burst of sends; a
    second only when one of them has turns left out)."""
    if not conversation_ids:
        return {}
    rows: dict[uuid.UUID, list[tuple[str, str]]] = {pk: [] for pk in conversation_ids}
    for conversation_id, role, content in _recent_turns(conversation_ids, limit + 1):
        rows[conversation_id].append((role, content))
    return _summarised({pk: _history(found, limit) for pk, found in rows.items()})


# The ORM's form of this query (a ``Window`` with ``RowNumber`` and a filter on it) took
# ~830 µs to compile for ~30 µs of work, on every send's thread hop (bench/README.md).
_RECENT_TURNS = """
SELECT conversation_id, role, content FROM (
    SELECT conversation_id, role, content, id,
           ROW_NUMBER() OVER (PARTITION BY conversation_id ORDER BY id DESC) AS n
    FROM {table}
    WHERE conversation_id IN ({ids})
      AND (role = %s OR (role = %s AND status = %s))
) recent
WHERE n <= %s
ORDER BY id
"""


def _recent_turns(
    conversation_ids: list[uuid.UUID], count: int
) -> list[tuple[uuid.UUID, str, str]]:
    """The last ``count`` model-input turns of each conversation, oldest first (the turns
    ``_model_input`` selects)."""
    prep = Message._meta.get_field("conversation").target_field.get_db_prep_value  # type: ignore[union-attr]
    connection = connections[Message.objects.db]
    keys = {prep(pk, connection): pk for pk in conversation_ids}
    sql = _RECENT_TURNS.format(
        table=connection.ops.quote_name(Message._meta.db_table),
        ids=", ".join(["%s"] * len(keys)),
    )
    params = [*keys, Message.Role.USER, Message.Role.ASSISTANT, Message.Status.COMPLETE, count]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(keys[key], role, content) for key, role, content in cursor.fetchall()]


def conversation_turns_to_summarise(
    *, conversation_id: uuid.UUID, limit: int
) -> tuple[str, list[dict[str, str]], int | None]:
    """For the summary task: the conversation's summary so far, the turns left out of its
    history that the summary does not cover yet (oldest first), and the last one's id."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return "", [], None
    turns = list(
        Message.objects.filter(conversation_id=conversation_id)
        .filter(_model_input)
        .order_by("id")
        .values_list("id", "role", "content")
    )
    recent = _history([(role, content) for _, role, content in turns], limit)
    older = turns[: len(turns) - len(recent)]
    after = conversation.summary_through or 0
    fresh = [(pk, role, content) for pk, role, content in older if pk > after]
    if not fresh:
        return conversation.summary, [], None
    return (
        conversation.summary,
        [{"role": role, "content": content} for _, role, content in fresh],
        fresh[-1][0],
    )


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
