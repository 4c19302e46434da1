"""A reply's life in the database after it is stored: checkpoints, its final write, and
what a socket needs to show it (or to mark it interrupted when its generator is gone)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.pipeline import RunRecord, runs_store
from chat.models import Conversation, Message
from chat.owners import Owner
from chat.selectors import conversation_get_for_owner, message_list
from chat.services.admission import lease_holder, lease_holders, leases_release, leases_shared
from chat.services.bulk import conversations_touch, messages_update
from chat.services.sending import ReplyJob


@dataclass(frozen=True)
class Checkpoint:
    message_id: int
    content: str
    first_token_at: datetime | None


def messages_checkpoint(*, checkpoints: list[Checkpoint]) -> list[None]:
    """Save partial text now and then, so a crash loses seconds of a reply, not all of it."""
    with transaction.atomic():
        messages_update(
            ["content", "status", "first_token_at"],
            [(c.message_id, (c.content, Message.Status.STREAMING, c.first_token_at))
             for c in checkpoints],
        )  # fmt: skip
    return [None] * len(checkpoints)


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
    answered_by: str = ""
    prompt_version: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)  # the passages it cites
    tools_used: list[str] = field(default_factory=list)
    run: RunRecord | None = None  # the pipeline's record, stored beside the reply


FINISH_FIELDS = [
    "status", "content", "error_code", "first_token_at", "done_at",
    "tokens_in", "tokens_out", "cost", "provider", "model", "answered_by", "prompt_version",
    "sources", "tools_used",
]  # fmt: skip


def message_finish(*, job: ReplyJob, outcome: ReplyOutcome) -> None:
    messages_finish(finished=[(job, outcome)])


def messages_finish(*, finished: list[tuple[ReplyJob, ReplyOutcome]]) -> list[None]:
    """Replies' final writes (one statement for the burst), then their conversations'
    leases are free."""
    now = timezone.now()
    with transaction.atomic():
        messages_update(
            FINISH_FIELDS,
            [
                (job.reply.pk, (o.status, o.content, o.error_code, o.first_token_at, now,
                                o.tokens_in, o.tokens_out, o.cost, o.provider, o.model,
                                o.answered_by, o.prompt_version, o.sources, o.tools_used))
                for job, o in finished
            ],
        )  # fmt: skip
        runs_store(
            finished=[(job.reply.pk, o.run, o.status, o.error_code)
                      for job, o in finished if o.run is not None]
        )  # fmt: skip
        conversations_touch(list({job.conversation_id for job, _ in finished}), now)
    leases_release(job.conversation_id for job, _ in finished)
    return [None] * len(finished)


def message_mark_interrupted(*, message_id: int) -> Message:
    """A reply whose generator is gone (server restarted mid-answer): say so, offer Retry.
    Returns the message as it now stands (one that finished meanwhile stays as it ended)."""
    replies_mark_interrupted(message_ids=[message_id])
    return Message.objects.get(pk=message_id)


SWEEP_BATCH = 500


def replies_orphaned(*, generated_here: set[int]) -> list[int]:
    """The live replies nobody holds a lease for, other than those ``generated_here``
    (the caller's own replies, whatever their leases say).

    Every live reply's lease is taken before the reply is stored, refreshed while it is
    generated (taken again if it lapsed) and given back only after its final write: a live
    reply without a lease for longer than a refresh period is an orphan (its server process
    was killed, or lost its database before the final write).
    """
    orphans: list[int] = []
    after = 0
    while True:  # in batches by id, so a crowd of healthy replies hides no orphan
        batch = list(
            Message.objects.filter(status__in=Message.LIVE_STATUSES, pk__gt=after)
            .order_by("id")
            .values_list("pk", "conversation_id")[:SWEEP_BATCH]
        )
        if not batch:
            return orphans
        after = batch[-1][0]
        live = [(pk, conversation) for pk, conversation in batch if pk not in generated_here]
        holders = lease_holders([conversation for _, conversation in live])
        orphans += [pk for (pk, _), holder in zip(live, holders, strict=True) if holder is None]
        if len(batch) < SWEEP_BATCH:
            return orphans


def replies_mark_interrupted(*, message_ids: list[int]) -> int:
    """Mark these replies interrupted, text kept, unless they ended meanwhile; how many."""
    if not message_ids:
        return 0
    return Message.objects.filter(pk__in=message_ids, status__in=Message.LIVE_STATUSES).update(
        status=Message.Status.INTERRUPTED, error_code="interrupted", done_at=timezone.now()
    )


def reply_if_over(*, message_id: int, conversation_id: uuid.UUID | str) -> Message | None:
    """The reply as it ended, or None while it may still be generated. None too if it was
    deleted. See ``reply_orphaned`` for a live reply without a lease."""
    message = Message.objects.filter(pk=message_id).first()
    if message is None or not message.is_live:
        return message
    if reply_orphaned(holder=lease_holder(conversation_id)):
        return message_mark_interrupted(message_id=message_id)
    return None


def reply_orphaned(*, holder: str | None) -> bool:
    """Whether a live reply whose lease holder is ``holder`` can be marked interrupted at
    once. With one server process (leases in its memory) a missing lease means its
    generator is gone; with shared leases it may only mean that Redis restarted empty, so
    only the sweep, which waits a refresh period, marks it."""
    return holder is None and not leases_shared()


@dataclass(frozen=True)
class ConnectState:
    conversation: Conversation
    live_message: Message | None
    lease_holder: str | None
    messages: list[Message] | None = None  # every message, when asked for
    orphaned: bool = False  # the live reply's generator is gone for sure (reply_orphaned)


def conversation_connect(
    *, owner: Owner | None, conversation_id: uuid.UUID | str, with_messages: bool = False
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
        conversation=conversation,
        live_message=live,
        lease_holder=holder,
        messages=messages,
        orphaned=live is not None and reply_orphaned(holder=holder),
    )
