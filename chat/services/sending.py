"""Taking a person's message: admission (rate limits, the conversation's lease), then the
user's message and a pending reply stored together, before any model call."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    transaction,
)
from django.http import Http404
from redis.exceptions import RedisError

from agents.pipeline import ReplyContext, replies_prepare
from chat.models import Conversation, Message
from chat.owners import Owner
from chat.ratelimits import RateLimited
from chat.selectors import message_histories, message_history
from chat.services.admission import ADMITTED, BUSY, Ask, asks_admit, lease_release
from chat.services.bulk import messages_insert
from chat.validation import UNSTORABLE, InputError

logger = logging.getLogger(__name__)


class ConversationBusy(Exception):  # noqa: N818
    message = "Orion is still answering in this conversation. Wait for it to finish, then send."


class NotStored(Exception):  # noqa: N818
    """The database or Redis refused this send (restarting, say): nothing of it was stored."""

    message = "Orion could not save your message just now. Please send it again."


@dataclass(frozen=True)
class SendRequest:
    owner: Owner
    conversation: Conversation  # from conversation_get_for_owner: ownership is checked
    text: str
    ip: str


@dataclass(frozen=True)
class ReplyJob:
    """Everything the generation needs, read in the same thread hop that stored the message."""

    conversation_id: uuid.UUID
    reply: Message
    user_message: Message | None  # None for a retry
    history: list[dict[str, str]]
    needs_title: bool
    # The pipeline's, prepared in the same thread hop (a bare one only where tests make
    # jobs to render).
    context: ReplyContext = field(default_factory=lambda: ReplyContext(history=[], provider=None))
    needs_summary: bool = False  # older turns were left out of the history: summarise them


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
    """``message_send`` for many people at once: one transaction for all that are admitted."""
    admitted = sends_admit(requests=requests)
    accepted = [r for r, refusal in zip(requests, admitted, strict=True) if refusal is None]
    stored = iter(exchanges_store(requests=accepted))
    return [refusal or next(stored) for refusal in admitted]


def sends_admit(*, requests: list[SendRequest]) -> list[Exception | None]:
    """The conversation's lease, then the rate limits (``chat.services.admission``): None
    for a send that may go (its lease is held)."""
    asks = [Ask(str(r.conversation.pk), r.owner.key, r.ip or "0.0.0.0") for r in requests]  # noqa: S104
    try:
        results = asks_admit(asks)
    except RedisError as exc:  # Redis is away: nothing is admitted, nothing stored
        logger.warning("could not admit %d sends: %s", len(asks), exc)
        return [NotStored() for _ in requests]
    return [_refusal(result) for result in results]


def _refusal(result: int) -> Exception | None:
    if result == ADMITTED:
        return None
    if result == BUSY:
        return ConversationBusy()
    return RateLimited(retry_after=result)


def exchanges_store(*, requests: list[SendRequest]) -> list[ReplyJob | Exception]:
    """Store admitted sends (their leases are held); a send that fails gives its lease back.

    All in one transaction first; if that fails, each send on its own, so a send that
    cannot be stored (its conversation deleted meanwhile, a value the database refuses)
    fails alone and every other one is stored."""
    try:
        try:
            stored: list[ReplyJob | Exception] = list(_exchanges_store(requests))
        except (OperationalError, InterfaceError) as exc:  # the database is away, for all
            logger.warning("%d messages could not be stored: %s", len(requests), exc)
            stored = [NotStored() for _ in requests]
        except (DatabaseError, ValueError):  # ValueError: text the driver cannot encode
            stored = [_exchange_store_alone(request) for request in requests]
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
    users = [
        Message(conversation_id=r.conversation.pk, role=Message.Role.USER, content=r.text)
        for r in requests
    ]
    replies = [
        Message(
            conversation_id=r.conversation.pk,
            role=Message.Role.ASSISTANT,
            status=Message.Status.PENDING,
        )
        for r in requests
    ]
    with transaction.atomic():  # (the histories too: a send is stored whole or not at all)
        messages_insert(users + replies)
        histories = message_histories(
            conversation_ids=[r.conversation.pk for r in requests],
            limit=settings.ORION_HISTORY_MESSAGES,
        )
    # Stored first: the guard, the cache and the rules look at them afterwards.
    contexts = replies_prepare(
        [histories[r.conversation.pk] for r in requests],
        audiences=[r.owner.audiences for r in requests],
    )
    return [
        ReplyJob(
            conversation_id=r.conversation.pk,
            reply=reply,
            user_message=user,
            history=histories[r.conversation.pk],
            needs_title=len(histories[r.conversation.pk]) == 1,
            context=context,
            needs_summary=histories[r.conversation.pk].truncated,
        )
        for r, user, reply, context in zip(requests, users, replies, contexts, strict=True)
    ]


def _exchange_store_alone(request: SendRequest) -> ReplyJob | Exception:
    try:
        (job,) = _exchanges_store([request])
    except IntegrityError:  # the conversation was deleted meanwhile
        return Http404("No such conversation")
    except DatabaseError as exc:
        logger.warning("a message could not be stored: %s", exc)
        return NotStored()
    except ValueError as exc:
        logger.warning("a message could not be stored: %s", exc)
        return InputError("unstorable", UNSTORABLE)
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
    refusal = sends_admit(requests=[SendRequest(owner, conversation, "", ip)])[0]
    if refusal is not None:
        raise refusal
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
        (context,) = replies_prepare([history], audiences=[owner.audiences])
    except BaseException:
        lease_release(conversation.pk)
        raise
    return ReplyJob(
        conversation_id=conversation.pk,
        reply=reply,
        user_message=None,
        history=history,
        needs_title=len(history) == 1,
        context=context,
        needs_summary=history.truncated,
    )
