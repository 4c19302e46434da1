"""Writing a burst of messages: the one place with SQL of its own (bench/README.md,
"Decisions", has the numbers).

- **Insert**: ``bulk_create`` prepares every field of every row in Python, the largest
  part of storing a burst of a hundred sends. A burst's messages differ in a few columns;
  here a column whose value is the same in every row is prepared once, and one
  ``INSERT ... RETURNING`` goes out.
- **Update**: ``bulk_update`` builds a ``CASE`` per field over every row, and an
  ``update()`` per row builds its query each time; here one ``UPDATE`` is prepared and
  sent once for all rows (``executemany``); a burst's conversations get their
  ``updated_at`` in one plain ``UPDATE`` too.

The columns come from the model, so a new field needs nothing here.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, router
from django.db.models import Field
from django.utils import timezone

from chat.models import Conversation, Message


def messages_update(fields: list[str], rows: list[tuple[int, tuple[Any, ...]]]) -> None:
    """Set ``fields`` of each message ``(pk, values)`` in ``rows``, one statement for all."""
    if not rows:
        return
    connection = connections[router.db_for_write(Message)]
    model_fields: list[Field[Any, Any]] = [
        Message._meta.get_field(name)  # type: ignore[misc]
        for name in fields
    ]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in model_fields)
    sql = (
        f"UPDATE {quote(Message._meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(Message._meta.pk.column)} = %s"  # type: ignore[union-attr]
    )
    params = [
        [f.get_db_prep_save(v, connection) for f, v in zip(model_fields, values, strict=True)]
        + [pk]
        for pk, values in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def messages_insert(messages: list[Message]) -> None:
    """Insert new ``messages`` (unsaved instances) and give them their ids, in order."""
    connection = connections[router.db_for_write(Message)]
    fields: list[Field[Any, Any]] = [f for f in Message._meta.concrete_fields if not f.primary_key]
    now = timezone.now()
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for message in messages:
                setattr(message, field.attname, now)
    rows = max(1, (connection.features.max_query_params or 65_535) // len(fields))
    for start in range(0, len(messages), rows):
        _insert(connection, fields, messages[start : start + rows])


def _insert(connection: Any, fields: list[Field[Any, Any]], messages: list[Message]) -> None:
    same: dict[int, Any] = {}  # column index -> the prepared value every row has
    varying: dict[int, list[Any]] = {}  # column index -> each row's prepared value
    for index, field in enumerate(fields):
        values = [getattr(message, field.attname) for message in messages]
        if all(value == values[0] for value in values):
            same[index] = field.get_db_prep_save(values[0], connection)
        else:
            varying[index] = [field.get_db_prep_save(value, connection) for value in values]
    if not varying:  # identical rows: let one column vary all the same (SQL needs one)
        varying[0] = [same.pop(0)] * len(messages)
    quote = connection.ops.quote_name
    # Identifiers come from the model and are quoted; every value is a parameter.
    head = (
        f"INSERT INTO {quote(Message._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(f.column) for f in fields)}) "
    )
    returning = f" RETURNING {quote(Message._meta.pk.column)}"  # type: ignore[union-attr]
    params: list[Any]
    if connection.vendor == "postgresql":
        # One array per column that varies, as bulk_create does on PostgreSQL.
        order = list(varying)
        select = ", ".join(
            f"u.c{order.index(i)}" if i in varying else "%s" for i in range(len(fields))
        )
        arrays = ", ".join(f"%s::{fields[i].db_type(connection)}[]" for i in order)
        names = ", ".join(f"c{n}" for n in range(len(order)))
        sql = f"{head}SELECT {select} FROM unnest({arrays}) AS u({names}){returning}"  # noqa: S608
        params = [same[i] for i in sorted(same)] + [varying[i] for i in order]
    else:
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = f"{head}VALUES {', '.join([row] * len(messages))}{returning}"
        params = []
        for r in range(len(messages)):
            params += [varying[i][r] if i in varying else same[i] for i in range(len(fields))]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for message, pk in zip(messages, ids, strict=True):
        message.pk = pk
        message._state.adding = False
        message._state.db = connection.alias


def conversations_touch(conversation_ids: list[Any], now: Any) -> None:
    """Set ``updated_at`` of the conversations, one plain ``UPDATE`` (the ORM's
    ``filter().update()`` compiled in ~300 µs on every final write)."""
    if not conversation_ids:
        return
    connection = connections[router.db_for_write(Conversation)]
    quote = connection.ops.quote_name
    pk_field = Conversation._meta.pk
    updated = Conversation._meta.get_field("updated_at")
    keys = [pk_field.get_db_prep_value(pk, connection) for pk in conversation_ids]  # type: ignore[union-attr]
    sql = (
        f"UPDATE {quote(Conversation._meta.db_table)} SET {quote(updated.column)} = %s "  # noqa: S608
        f"WHERE {quote(pk_field.column)} IN ({', '.join(['%s'] * len(keys))})"  # type: ignore[union-attr]
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [updated.get_db_prep_save(now, connection), *keys])
