"""Writes. Plain functions with keyword-only arguments, callable without HTTP or sockets.

The functions here are synchronous; async callers wrap them in ``database_sync_to_async``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from agents.tasks import enqueue
from agents.titles import title_suggest
from chat.models import Conversation, Message, message_sql
from chat.owners import Owner
from chat.ratelimits import check_send_rate, rate_counters
from chat.rendering import render_fragment
from chat.selectors import (
    conversation_get_for_owner,
    message_histories,
    message_history,
    message_list,
)
from chat.validation import InputError, clean_title

logger = logging.getLogger(__name__)

INSTANCE_ID = uuid.uuid4().hex  # this server process, for generation leases


class ConversationBusy(Exception):  # noqa: N818
    message = "Orion is still answering in this conversation. Wait for it to finish, then send."


# --- conversations --------------------------------------------------------------------------


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


def conversation_title_update(*, conversation_id: uuid.UUID) -> str | None:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None or conversation.title:
        return None
    first = (
        conversation.messages.filter(role=Message.Role.USER)
        .order_by("id")
        .values_list("content", flat=True)
        .first()
    )
    if not first:
        return None
    title = async_to_sync(title_suggest)(first)
    if not Conversation.objects.filter(pk=conversation_id, title="").update(title=title):
        return None  # renamed meanwhile: the person's choice wins
    conversation.title = title
    async_to_sync(get_channel_layer().group_send)(
        f"conversation.{conversation_id}",
        {
            "type": "conversation.titled",
            "html": render_fragment("title", {"conversation": conversation}),
        },
    )
    return title


# --- generation lease: one reply per conversation at a time, across processes ----------------


def lease_key(conversation_id: uuid.UUID | str) -> str:
    return f"orion:generating:{conversation_id}"


def lease_acquire(conversation_id: uuid.UUID | str) -> bool:
    return cache.add(
        lease_key(conversation_id), INSTANCE_ID, settings.ORION_GENERATION_LEASE_SECONDS
    )


def lease_entries(conversation_ids: list[uuid.UUID]) -> tuple[list[str], bytes, int]:
    """Leases as Django's Redis cache stores them, for a script: (keys, value, timeout)."""
    store = caches[DEFAULT_CACHE_ALIAS]  # the backend itself, not the per-call proxy
    return (
        [store.make_key(lease_key(pk)) for pk in conversation_ids],
        store._cache._serializer.dumps(INSTANCE_ID),  # type: ignore[attr-defined]  # its own
        settings.ORION_GENERATION_LEASE_SECONDS,
    )


def lease_refresh(conversation_id: uuid.UUID | str) -> None:
    cache.touch(lease_key(conversation_id), settings.ORION_GENERATION_LEASE_SECONDS)


def lease_release(conversation_id: uuid.UUID | str) -> None:
    cache.delete(lease_key(conversation_id))


def lease_holder(conversation_id: uuid.UUID | str) -> str | None:
    return cache.get(lease_key(conversation_id))


# --- sending ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyJob:
    """Everything the generation needs, read in the same thread hop that stored the message."""

    conversation_id: uuid.UUID
    reply: Message
    user_message: Message | None
    history: list[dict[str, str]]
    needs_title: bool


@dataclass(frozen=True)
class SendRequest:
    owner: Owner
    conversation: Conversation  # from conversation_get_for_owner: ownership is checked
    text: str
    ip: str


def message_send(*, owner: Owner, conversation: Conversation, text: str, ip: str) -> ReplyJob:
    """Store the user's message and a pending reply; the caller then starts generation.

    Raises ``RateLimited``, ``ConversationBusy`` or ``Http404`` (the conversation was
    deleted meanwhile) before anything is stored, so a refused message stays in the
    composer and nothing is half-saved.
    """
    (result,) = messages_send(requests=[SendRequest(owner, conversation, text, ip)])
    if isinstance(result, Exception):
        raise result
    return result


def messages_send(*, requests: list[SendRequest]) -> list[ReplyJob | Exception]:
    """``message_send`` for many people at once: one transaction, a handful of queries."""
    admitted = sends_admit(requests=requests)
    accepted = [r for r, refusal in zip(requests, admitted, strict=True) if refusal is None]
    stored = iter(exchanges_store(requests=accepted))
    return [refusal or next(stored) for refusal in admitted]


def sends_admit(*, requests: list[SendRequest]) -> list[Exception | None]:
    """Rate limits, then the conversation's generation lease: None for a send that may go.

    Counts on django-ratelimit's own counters through the cache API (as it does: create,
    then increment), without its per-call set-up of a request object and key resolution.
    ``chat.admission`` does the same in one Lua script on Redis.
    """
    store = caches[DEFAULT_CACHE_ALIAS]  # the backend itself, not the per-call proxy
    counters = rate_counters([(r.owner, r.ip) for r in requests], stored_keys=False)
    counts = _counts_add(store, counters.keys, counters.ttl)
    return [
        refusal
        if refusal is not None
        else (None if lease_acquire(request.conversation.pk) else ConversationBusy())
        for request, refusal in zip(requests, counters.refusals(counts), strict=True)
    ]


def _counts_add(store: Any, keys: list[str], ttl: int) -> list[int]:
    """Count one on each key as django-ratelimit does (create at 1 with an expiry, else
    increment); returns each count as its own increment would have left it. A key met
    several times (a burst from one address) is counted once, by as many."""
    totals: dict[str, int] = {}
    for key in keys:
        totals[key] = totals.get(key, 0) + 1
    for key, n in totals.items():
        if not store.add(key, n, ttl):
            try:
                totals[key] = store.incr(key, n)
            except ValueError:  # expired since the add: counted as new, as django-ratelimit does
                totals[key] = n
    counts = []
    for key in reversed(keys):  # the last of a key's sends has its total
        counts.append(totals[key])
        totals[key] -= 1
    counts.reverse()
    return counts


def exchanges_store(*, requests: list[SendRequest]) -> list[ReplyJob | Exception]:
    """Store admitted sends (their leases are held); a send that fails gives its lease back."""
    try:
        try:
            stored: list[ReplyJob | Exception] = list(_exchanges_store(requests))
        except IntegrityError:  # a conversation was deleted meanwhile: find out which
            stored = [_exchange_store_or_404(request) for request in requests]
    except BaseException:
        for request in requests:
            lease_release(request.conversation.pk)
        raise
    for request, result in zip(requests, stored, strict=True):
        if isinstance(result, Exception):
            lease_release(request.conversation.pk)
    return stored


def _exchanges_store(requests: list[SendRequest]) -> list[ReplyJob]:
    if not requests:
        return []
    new = [
        (r.conversation.pk, Message.Role.USER, r.text, Message.Status.COMPLETE) for r in requests
    ] + [(r.conversation.pk, Message.Role.ASSISTANT, "", Message.Status.PENDING) for r in requests]
    with transaction.atomic():
        messages = _messages_insert(new)
    users, replies = messages[: len(requests)], messages[len(requests) :]
    histories = message_histories(
        conversation_ids=[r.conversation.pk for r in requests],
        limit=settings.ORION_HISTORY_MESSAGES,
    )
    return [
        ReplyJob(
            conversation_id=r.conversation.pk,
            reply=reply,
            user_message=user,
            history=histories[r.conversation.pk],
            needs_title=len(histories[r.conversation.pk]) == 1,
        )
        for r, user, reply in zip(requests, users, replies, strict=True)
    ]


_INSERTED = ("conversation", "role", "content", "status", "error_code", "provider", "model",
             "prompt_version", "created_at")  # fmt: skip


def _messages_insert(rows: Sequence[tuple[uuid.UUID, str, str, str]]) -> list[Message]:
    """Insert new messages ``(conversation_id, role, content, status)`` in one statement.

    What ``bulk_create`` does, but it spends ~0.1 ms of Python per row preparing every
    field (~20 ms for a burst of 100 sends, holding the GIL the event loop needs). The
    ids come back in insertion order, which Django's ``bulk_create`` relies on as well.
    """
    connection, table, fields, columns = message_sql(*_INSERTED, "id")
    now = timezone.now()
    conversation_field, created_field = fields[0], fields[-2]
    created = created_field.get_db_prep_save(now, connection)
    conversations = [conversation_field.get_db_prep_save(row[0], connection) for row in rows]
    # Identifiers come from the model and are quoted; every value is a parameter.
    insert = f"INSERT INTO {table} ({', '.join(columns[:-1])}) "  # noqa: S608
    params: list[Any]
    if connection.vendor == "postgresql":
        # One array per column that varies, as Django's bulk_create does on PostgreSQL:
        # psycopg parses a query's placeholders in Python, ~5 ms for 200 rows of nine.
        arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields[:4])
        sql = (
            f"{insert}SELECT u.*, %s, %s, %s, %s, %s FROM unnest({arrays}) AS u "  # noqa: S608
            f"RETURNING {columns[-1]}"
        )
        roles, contents, statuses = ([row[i] for row in rows] for i in (1, 2, 3))
        params = ["", "", "", "", created, conversations, roles, contents, statuses]
    else:
        row_sql = "(" + ", ".join(["%s"] * len(_INSERTED)) + ")"
        sql = f"{insert}VALUES {', '.join([row_sql] * len(rows))} RETURNING {columns[-1]}"
        params = []
        for conversation, (_, role, content, status) in zip(conversations, rows, strict=True):
            params += (conversation, role, content, status, "", "", "", "", created)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    # As the ORM builds instances it loaded (positional values: half the cost of keywords).
    concrete = Message._meta.concrete_fields
    names = [f.attname for f in concrete]
    defaults = {f.attname: f.get_default() for f in concrete}
    messages = []
    for pk, (conversation_id, role, content, status) in zip(ids, rows, strict=True):
        values = defaults | {"id": pk, "conversation_id": conversation_id, "role": role,
                             "content": content, "status": status, "created_at": now}  # fmt: skip
        messages.append(Message.from_db(connection.alias, names, [values[n] for n in names]))
    return messages


def _exchange_store_or_404(request: SendRequest) -> ReplyJob | Exception:
    try:
        (job,) = _exchanges_store([request])
    except IntegrityError:
        return Http404("No such conversation")
    return job


def message_retry(
    *, owner: Owner, conversation: Conversation, message_id: int, ip: str
) -> ReplyJob:
    """Answer again in place of a failed or interrupted reply."""
    reply = conversation.messages.filter(
        pk=message_id,
        role=Message.Role.ASSISTANT,
        status__in=[Message.Status.FAILED, Message.Status.INTERRUPTED],
    ).first()
    if reply is None:
        raise InputError("not_retryable", "That reply cannot be retried.")
    check_send_rate(owner=owner, ip=ip)
    if not lease_acquire(conversation.pk):
        raise ConversationBusy
    try:
        reply.content = ""
        reply.status = Message.Status.PENDING
        reply.error_code = ""
        reply.first_token_at = reply.done_at = None
        reply.save(update_fields=["content", "status", "error_code", "first_token_at", "done_at"])
        history = message_history(
            conversation_id=conversation.pk,
            limit=settings.ORION_HISTORY_MESSAGES,
            before_id=reply.pk,
        )
    except BaseException:
        lease_release(conversation.pk)
        raise
    return ReplyJob(
        conversation_id=conversation.pk,
        reply=reply,
        user_message=None,
        history=history,
        needs_title=len(history) == 1,
    )


@dataclass(frozen=True)
class Checkpoint:
    message_id: int
    content: str
    first_token_at: datetime | None


def messages_checkpoint(*, checkpoints: list[Checkpoint]) -> list[None]:
    """Save partial text now and then, so a crash loses seconds of a reply, not all of it."""
    # Many replies checkpoint together (all of a burst, every 2 s).
    _messages_update(
        ("content", "status", "first_token_at"),
        [
            (c.message_id, (c.content, Message.Status.STREAMING.value, c.first_token_at))
            for c in checkpoints
        ],
    )
    return [None] * len(checkpoints)


def _messages_update(names: tuple[str, ...], rows: list[tuple[int, tuple[Any, ...]]]) -> None:
    """Set the named fields of many messages, ``(id, values)`` each: one ``executemany`` with
    values prepared as the ORM prepares them, instead of a ``QuerySet.update`` (~0.1 ms of
    Python) per message. In a transaction of its own unless one is open already."""
    connection, table, fields, columns = message_sql(*names, "id")
    assignments = ", ".join(f"{column} = %s" for column in columns[:-1])
    sql = f"UPDATE {table} SET {assignments} WHERE {columns[-1]} = %s"  # noqa: S608
    prepared = [
        (*(f.get_db_prep_save(v, connection) for f, v in zip(fields[:-1], values, strict=True)), pk)
        for pk, values in rows
    ]
    with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


@dataclass(frozen=True)
class ReplyOutcome:
    status: str
    content: str
    error_code: str = ""
    first_token_at: datetime | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: Decimal | None = None
    provider: str = ""
    model: str = ""


def message_finish(*, job: ReplyJob, outcome: ReplyOutcome) -> None:
    messages_finish(finished=[(job, outcome)])


_FINISHED = ("status", "content", "error_code", "first_token_at", "done_at", "tokens_in",
             "tokens_out", "cost", "provider", "model")  # fmt: skip


def messages_finish(*, finished: list[tuple[ReplyJob, ReplyOutcome]]) -> list[None]:
    """Replies' final writes; queues titles once a first exchange is complete.

    The final frame of a reply waits for this (see ``chat.streaming``), so it is one
    ``executemany`` with prepared values rather than a ``QuerySet.update`` per reply.
    """
    from chat.tasks import conversation_title_generate

    now = timezone.now()
    rows = [
        (job.reply.pk, (o.status, o.content, o.error_code, o.first_token_at, now, o.tokens_in,
                        o.tokens_out, o.cost, o.provider, o.model))
        for job, o in finished
    ]  # fmt: skip
    with transaction.atomic():
        _messages_update(_FINISHED, rows)
        for job, outcome in finished:
            if job.needs_title and outcome.status == Message.Status.COMPLETE:
                transaction.on_commit(
                    partial(enqueue, conversation_title_generate, str(job.conversation_id))
                )
        Conversation.objects.filter(pk__in=[job.conversation_id for job, _ in finished]).update(
            updated_at=now
        )
    cache.delete_many([lease_key(job.conversation_id) for job, _ in finished])
    return [None] * len(finished)


def message_mark_interrupted(*, message_id: int) -> Message:
    """A reply whose generator is gone (server restarted mid-answer): say so, offer Retry.
    Returns the message as it now stands (one that finished meanwhile stays as it ended)."""
    Message.objects.filter(pk=message_id, status__in=Message.LIVE_STATUSES).update(
        status=Message.Status.INTERRUPTED, error_code="interrupted", done_at=timezone.now()
    )
    return Message.objects.get(pk=message_id)


def reply_if_over(*, message_id: int, conversation_id: uuid.UUID | str) -> Message | None:
    """The reply as it ended, or None while a server process still generates it (one whose
    generator is gone is marked interrupted). None too if it was deleted."""
    message = Message.objects.filter(pk=message_id).first()
    if message is None or not message.is_live:
        return message
    if lease_holder(conversation_id) is None:
        return message_mark_interrupted(message_id=message_id)
    return None


@dataclass(frozen=True)
class ConnectState:
    conversation: Conversation
    live_message: Message | None
    lease_holder: str | None
    messages: list[Message] | None = None  # every message, when asked for


def conversation_connect(
    *, owner: Owner | None, conversation_id: uuid.UUID, with_messages: bool = False
) -> ConnectState:
    """What a socket needs on connect: the conversation and any reply still in progress
    (and, for a page catching up after a lost connection, every message)."""
    conversation = conversation_get_for_owner(owner=owner, pk=conversation_id)
    messages: list[Message] | None = None
    if with_messages:
        messages = message_list(conversation=conversation)
        live = next((m for m in reversed(messages) if m.is_live), None)
    else:
        live = (
            conversation.messages.filter(status__in=Message.LIVE_STATUSES).order_by("-id").first()
        )
    holder = lease_holder(conversation.pk) if live is not None else None
    return ConnectState(
        conversation=conversation, live_message=live, lease_holder=holder, messages=messages
    )
