"""Which chunks a search may see: of ready documents, of the audiences asked for.

Shared by the keyword statements (``keywords``) and the vector and row reads (``search``).
Lists go to the database as one parameter: an array for PostgreSQL, JSON text read by
``json_each`` for SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection

from agents.models import Document

Audiences = Sequence[str] | None  # Document.audience values; None: every document
Allowed = tuple[str, ...] | None  # the same, sorted and without repeats

_READY = Document.Status.READY
# A chunk's document is looked up by a subquery for each chunk, never joined: the planner
# cannot turn the statement around. Planned as a join, with no statistics on the tables
# (right after a large ingestion, or where autovacuum is off), it took every document
# as the outer side and scanned the index or the chunks once for each (~1 s a search at
# 100,000 passages).
_VISIBLE = """(SELECT d.status = %s {audience} FROM agents_document d
               WHERE d.id = {chunk}.document_id)"""


def allowed_of(audiences: Audiences) -> Allowed:
    if isinstance(audiences, str):  # ("staff" would be read as five letters)
        raise TypeError("audiences is a sequence of Document.audience values, not one")
    return None if audiences is None else tuple(sorted({str(a) for a in audiences}))


def sees(allowed: Allowed, audience: str) -> bool:
    return allowed is None or audience in allowed


def visible(chunk: str, allowed: Allowed) -> tuple[str, list[Any]]:
    """The condition that ``chunk``'s document is ready and of ``allowed`` (None: any
    audience), and its parameters."""
    audience, params = "", [_READY]
    if allowed is not None:
        audience = f"AND {listed_in('d.audience')}"
        params.append(listed(list(allowed)))
    return _VISIBLE.format(audience=audience, chunk=chunk), params


def listed_in(column: str) -> str:
    """``column`` is one of the values of a list parameter (``listed``)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)"
    return f"{column} IN (SELECT value FROM json_each(%s))"  # noqa: S608


def listed(values: list[int] | list[str]) -> Any:
    """A list as a parameter: an array for PostgreSQL, JSON text for SQLite's json_each."""
    return values if connection.vendor == "postgresql" else json.dumps(values)
