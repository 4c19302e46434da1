"""Reads. Every owned object is fetched through the one access helper below."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404

from chat.models import Conversation, Message, message_sql
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
    """``message_history`` for several conversations in one query.

    Hand-written SQL: compiling the ORM's window query costs ~3 ms and converting its rows
    back to UUIDs another ~2 ms, for a hundred sends at once that wait on it. Read on the
    connection that writes messages, so a burst reads the turns it just stored.
    """
    histories: dict[uuid.UUID, list[dict[str, str]]] = {pk: [] for pk in conversation_ids}
    if not conversation_ids:
        return histories
    connection, table, fields, columns = message_sql(
        "conversation", "role", "status", "content", "id"
    )
    conversation, role, status, content, id_ = columns
    # The conversation as the database returns it, for each conversation asked about.
    by_value = {fields[0].get_db_prep_value(pk, connection): pk for pk in conversation_ids}
    # Identifiers come from the model and are quoted; every value is a parameter.
    sql = (
        f"SELECT c, r, t FROM (SELECT {conversation} AS c, {role} AS r, {content} AS t, "  # noqa: S608
        f"{id_} AS i, ROW_NUMBER() OVER (PARTITION BY {conversation} ORDER BY {id_} DESC) AS n "
        f"FROM {table} WHERE {conversation} IN ({', '.join(['%s'] * len(by_value))}) "
        f"AND ({role} = %s OR ({role} = %s AND {status} = %s))) recent "
        f"WHERE n <= %s ORDER BY i"
    )
    params = [*by_value, Message.Role.USER.value, Message.Role.ASSISTANT.value,
              Message.Status.COMPLETE.value, limit]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for value, message_role, text in cursor.fetchall():
            histories[by_value[value]].append({"role": message_role, "content": text})
    return histories
