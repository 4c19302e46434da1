"""Inserting many rows of plain values, for the records a burst of replies leaves behind.

``bulk_create`` builds a model instance per row and prepares every value of every row
through its field: for a burst of a hundred replies, seven hundred steps, that is most of
what the burst's final write costs, and it holds the interpreter while the event loop
waits (bench/README.md, "Decisions"). Here rows are tuples; a value whose field would
return it unchanged (numbers, text, booleans, ids) is passed as it is, and only the rest
(JSON, decimals, dates) goes through the field. The columns come from the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from django.db import connections, models, router

# Fields whose prepared value is the Python value itself, for the types we pass them (both
# drivers take a Decimal as it is; Django registers it with sqlite3).
_AS_IS = {
    "AutoField", "BigAutoField", "BigIntegerField", "BooleanField", "CharField", "DecimalField",
    "FloatField",
    "ForeignKey", "IntegerField", "PositiveIntegerField", "PositiveSmallIntegerField",
    "SlugField", "SmallIntegerField", "TextField",
}  # fmt: skip


def _preparers(
    model: type[models.Model], names: Sequence[str], connection: Any
) -> tuple[list[str], list[Callable[[Any], Any] | None]]:
    columns: list[str] = []
    preparers: list[Callable[[Any], Any] | None] = []
    for name in names:
        field = _field(model, name)
        columns.append(connection.ops.quote_name(field.column))
        if field.get_internal_type() in _AS_IS:
            preparers.append(None)
        else:
            preparers.append(partial(_prepare, field, connection))
    return columns, preparers


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)  # noqa: S101 (a concrete column, not a relation)
    return field


def _prepare(field: models.Field[Any, Any], connection: Any, value: Any) -> Any:
    return field.get_db_prep_save(value, connection)


def _prepared(rows: Sequence[Sequence[Any]], preparers: list[Any]) -> list[list[Any]]:
    slow = [(i, p) for i, p in enumerate(preparers) if p is not None]
    out = []
    for row in rows:
        values = list(row)
        for index, prepare in slow:
            values[index] = prepare(values[index])
        out.append(values)
    return out


def rows_insert(
    model: type[models.Model],
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    unique: str = "",
) -> None:
    """Insert ``rows`` (a value per name in ``names``). With ``unique`` (a unique field's
    name), a row whose value there exists already replaces that row's other columns
    instead (``ON CONFLICT ... DO UPDATE``).

    SQLite takes them as one prepared statement run for every row (``executemany``, in C);
    PostgreSQL as one array per column (``unnest``)."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    columns, preparers = _preparers(model, names, connection)
    conflict = ""
    if unique:
        target = columns[list(names).index(unique)]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != target)
        conflict = f" ON CONFLICT ({target}) DO UPDATE SET {updates}"
    prepared = _prepared(rows, preparers)
    if connection.vendor == "postgresql":
        _insert_unnest(connection, model, names, columns, prepared, conflict)
        return
    table = connection.ops.quote_name(model._meta.db_table)
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){conflict}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


def rows_insert_returning(
    model: type[models.Model], names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[Any]:
    """Insert ``rows`` and return their primary keys, in order (multi-row ``INSERT ...
    RETURNING``, in as few statements as the database's parameter limit allows)."""
    if not rows:
        return []
    connection = connections[router.db_for_write(model)]
    columns, preparers = _preparers(model, names, connection)
    pk = connection.ops.quote_name(model._meta.pk.column)  # type: ignore[union-attr]
    prepared = _prepared(rows, preparers)
    if connection.vendor == "postgresql":
        return _insert_unnest(connection, model, names, columns, prepared, f" RETURNING {pk}")
    return _insert_values(connection, model, columns, prepared, f" RETURNING {pk}")


def _insert_unnest(
    connection: Any,
    model: type[models.Model],
    names: Sequence[str],
    columns: list[str],
    prepared: list[list[Any]],
    tail: str,
) -> list[Any]:
    """PostgreSQL: one array per column, zipped by ``unnest`` (as ``bulk_create`` does
    there): a handful of parameters whatever the number of rows, where ``VALUES`` would
    have the driver parse a placeholder per value."""
    table = connection.ops.quote_name(model._meta.db_table)
    # The base type: "varchar(16)[]" would cut longer values short without a word.
    arrays = ", ".join(
        f"%s::{(_field(model, name).db_type(connection) or '').split('(')[0]}[]" for name in names
    )
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}){tail}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(column) for column in zip(*prepared, strict=True)])
        if "RETURNING" in tail:
            return sorted(row[0] for row in cursor.fetchall())
    return []


def _insert_values(
    connection: Any,
    model: type[models.Model],
    columns: list[str],
    prepared: list[list[Any]],
    tail: str,
) -> list[Any]:
    """Multi-row ``INSERT ... VALUES``; returns the rows' first returned column, if any."""
    table = connection.ops.quote_name(model._meta.db_table)
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    per_statement = max(1, (connection.features.max_query_params or 65_535) // len(columns))
    out: list[Any] = []
    with connection.cursor() as cursor:
        for start in range(0, len(prepared), per_statement):
            chunk = prepared[start : start + per_statement]
            sql = (
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
                f"VALUES {', '.join([row_sql] * len(chunk))}{tail}"
            )
            cursor.execute(sql, [value for values in chunk for value in values])
            if "RETURNING" in tail:
                # Keys are drawn in the order of the rows; the order RETURNING lists them
                # in is not promised, so they are sorted.
                out += sorted(row[0] for row in cursor.fetchall())
    return out


def pks_present(lookups: Sequence[tuple[type[models.Model], set[Any]]]) -> list[set[Any]]:
    """For each ``(model, pks)`` (integer keys), which of ``pks`` are rows of ``model`` now:
    one plain ``SELECT`` for all of them (a round trip each, and ~400 µs of the ORM's
    compiling each, on every final write otherwise)."""
    found: list[set[Any]] = [set() for _ in lookups]
    parts: list[str] = []
    params: list[Any] = []
    connection = None
    for index, (model, pks) in enumerate(lookups):
        wanted = [pk for pk in pks if pk is not None]
        if not wanted:
            continue
        connection = connections[router.db_for_read(model)]
        table = connection.ops.quote_name(model._meta.db_table)
        pk = connection.ops.quote_name(model._meta.pk.column)  # type: ignore[union-attr]
        placeholders = ", ".join(["%s"] * len(wanted))
        parts.append(f"SELECT {index}, {pk} FROM {table} WHERE {pk} IN ({placeholders})")  # noqa: S608
        params += wanted
    if connection is None:
        return found
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for index, pk in cursor.fetchall():
            found[index].add(pk)
    return found
