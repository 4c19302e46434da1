"""Generating a reply: detached from any socket, streamed to every page, stored at the end."""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from datetime import datetime

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from agents.pipeline import AnswerDone, AnswerError, TextDelta, answer_stream, reply_sources
from chat.live.frames import delta_frame, exchange_frame, message_frame
from chat.live.hub import Hub, LiveReply, hub
from chat.models import Message
from chat.services import Checkpoint, ReplyJob, ReplyOutcome, lease_refresh, lease_release
from chat.tasks import conversation_summarise, conversation_title_generate
from project.tasks import aenqueue

logger = logging.getLogger(__name__)

EXCHANGE_AFTER_PASSES = 3
# Pauses between tries of a reply's final write while the database is away (each try
# itself waits up to the connection pool's timeout for it).
STORE_PAUSES = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


def reply_start(job: ReplyJob) -> None:
    """Start generating, detached from any socket, and show the exchange on every open page.

    The model request goes out first: under a burst of sends, rendering and sending the
    exchange for everyone else must not stand between a person and their first token.
    """
    h = hub()
    live = LiveReply(job=job)
    h.replies[live.conversation_id] = live
    live.task = h.spawn(_generate(h, live))
    h.spawn(_show_exchange(h, live))


async def _show_exchange(h: Hub, live: LiveReply) -> None:
    # A few passes of the event loop first: the model requests of every reply started in
    # this pass go out before any exchange is rendered. (On Python before 3.12 aiohttp
    # writes a request's body from a task of its own, which starts a pass after the post.)
    for _ in range(EXCHANGE_AFTER_PASSES):
        await asyncio.sleep(0)
    try:
        live.exchange = exchange_frame(live.job)
        async with live.lock:
            await h.publish(live, live.exchange)
    finally:
        live.shown.set()


class Streamer:
    """Turns deltas into frames: the first at once, later ones coalesced; sparse checkpoints.

    Coalescing paces the reading: after a frame, the reply waits out the interval before it
    reads the model's stream again, and then takes everything that arrived meanwhile in
    one read. Tokens wait in the socket buffer, not in timers.
    """

    def __init__(self, h: Hub, live: LiveReply) -> None:
        self.hub = h
        self.live = live
        self.loop = asyncio.get_running_loop()
        self.interval = settings.ORION_STREAM_COALESCE_MS / 1000
        self.checkpoint_every = settings.ORION_CHECKPOINT_SECONDS
        self.pending: list[str] = []
        self.first_token_at: datetime | None = None
        self.last_flush = 0.0
        self.last_checkpoint = self.loop.time()
        self.checkpoint_task: asyncio.Task[None] | None = None

    @property
    def text(self) -> str:
        return "".join(self.live.parts)

    async def delta(self, text: str) -> None:
        live = self.live
        live.parts.append(text)
        if self.first_token_at is None:
            self.first_token_at = timezone.now()
            live.job.reply.status = Message.Status.STREAMING
            self.last_flush = self.loop.time()
            await live.shown.wait()  # the message must be on the page before its text
            async with live.lock:
                await self.hub.publish(live, message_frame(live.message))
            live.started.set()
            return
        self.pending.append(text)
        now = self.loop.time()
        if now - self.last_checkpoint >= self.checkpoint_every and self.checkpoint_task is None:
            self.last_checkpoint = now
            self.checkpoint_task = asyncio.create_task(self._checkpoint())

    async def pace(self) -> None:
        """Send what is pending once the interval allows, then wait out the next interval."""
        if self.pending:
            await self._sleep_until(self.last_flush + self.interval)
            await self.flush()
        await self._sleep_until(self.last_flush + self.interval)

    async def _sleep_until(self, when: float) -> None:
        delay = when - self.loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def flush(self) -> None:
        live = self.live
        async with live.lock:
            if not self.pending:
                return
            text = "".join(self.pending)
            self.pending.clear()
            self.last_flush = self.loop.time()
            await self.hub.publish(live, delta_frame(live.job.reply.pk, text))

    async def _checkpoint(self) -> None:
        live = self.live
        try:
            await self.hub.checkpoints.submit(
                Checkpoint(live.job.reply.pk, self.text, self.first_token_at)
            )
        except DatabaseError as exc:  # (restarting): the next checkpoint or the end saves it
            logger.warning("checkpoint failed; the reply goes on: %s", exc)
        except Exception:
            logger.exception("checkpoint failed; the reply goes on")
        finally:
            self.checkpoint_task = None

    async def settle(self) -> None:
        """No more deltas: the final frame carries all the text."""
        self.pending.clear()
        if self.checkpoint_task is not None:
            await asyncio.shield(self.checkpoint_task)

    def outcome(self, done: AnswerDone) -> ReplyOutcome:
        run = self.live.job.context.run
        spent = run.answered_by == "model"
        return ReplyOutcome(
            status=Message.Status.COMPLETE,
            content=self.text,
            first_token_at=self.first_token_at,
            tokens_in=run.tokens_in if spent else None,
            tokens_out=run.tokens_out if spent else None,
            cost=run.cost if spent else None,
            provider=done.provider,
            model=done.model,
            answered_by=done.answered_by,
            prompt_version=run.prompt_label if spent else "",
            sources=reply_sources(self.live.job.context, self.text),
            tools_used=list(self.live.job.context.tools_used),
            run=run,
        )

    def failed(self, code: str, status: str = Message.Status.FAILED) -> ReplyOutcome:
        run = self.live.job.context.run
        return ReplyOutcome(
            status=status,
            content=self.text,
            error_code=code,
            first_token_at=self.first_token_at,
            tokens_in=run.tokens_in or None,
            tokens_out=run.tokens_out or None,
            cost=run.cost or None,
            provider=run.provider,
            model=run.model,
            answered_by=run.answered_by,
            prompt_version=run.prompt_label if run.provider else "",
            tools_used=list(self.live.job.context.tools_used),
            run=run,
        )


async def _stream_answer(streamer: Streamer, job: ReplyJob) -> ReplyOutcome:
    done: AnswerDone | None = None
    # Closed at once if the reply stops early, so the model stops generating.
    async with aclosing(answer_stream(job.context)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                await streamer.delta(event.text)
                await streamer.pace()
            else:
                done = event
    if done is None:  # pragma: no cover - the pipeline always ends with AnswerDone
        raise AnswerError("internal", "The answer ended unexpectedly.")
    return streamer.outcome(done)


async def _generate(h: Hub, live: LiveReply) -> None:
    job = live.job
    streamer = Streamer(h, live)
    keeper = LeaseKeeper(job.conversation_id)
    # Pages elsewhere hear of the reply only where there are other processes.
    announced = h.spawn(h.remote.announce(live)) if settings.ORION_SHARED_STREAMS else None
    cancelled = False
    try:
        outcome = await _stream_answer(streamer, job)
    except AnswerError as exc:
        outcome = streamer.failed(exc.code)
    except asyncio.CancelledError:
        cancelled = True
        reason = live.stop_reason or "interrupted"
        outcome = streamer.failed(reason, status=Message.Status.INTERRUPTED)
    except Exception:
        logger.exception("reply %s failed", job.reply.pk)
        outcome = streamer.failed("internal")
    live.finishing = True  # a stop now would lose the text it is storing
    keeper.stop()
    try:
        await streamer.settle()
        await _finish(h, live, outcome, announced)
    finally:
        h.replies.pop(live.conversation_id, None)
        if announced is not None:
            await h.remote.withdraw(live, announced)
    if cancelled:
        raise asyncio.CancelledError


async def _finish(
    h: Hub, live: LiveReply, outcome: ReplyOutcome, announced: asyncio.Task[None] | None
) -> None:
    """Store the reply, then show its end. Stored (and the conversation free for the next
    message) before the page hears: a person who sees the answer complete may send at once."""
    job = live.job
    stored = False
    try:
        await _store(h, job, outcome)
        stored = True
    except Exception:
        logger.exception("could not store reply %s", job.reply.pk)
        try:
            await database_sync_to_async(lease_release)(job.conversation_id)
        except Exception:
            logger.exception("could not release the lease of reply %s", job.reply.pk)
    message = live.message
    message.status = outcome.status
    message.error_code = outcome.error_code
    message.answered_by, message.provider = outcome.answered_by, outcome.provider
    message.sources, message.tools_used = outcome.sources, outcome.tools_used
    if not stored:  # as the page will find it after a reload, once the sweep has been
        message.status, message.error_code = Message.Status.INTERRUPTED, "interrupted"
    try:
        await live.shown.wait()
        # Pages in other processes must hear of the reply before it is gone from here.
        live.started.set()
        if announced is not None:
            await asyncio.wait([announced], timeout=1.0)
        async with live.lock:
            await h.publish(live, message_frame(message), final=True)
    except Exception:
        logger.exception("could not show the end of reply %s", job.reply.pk)
    # After the last frame: the title's model call must not hold up other replies' ends.
    if stored and job.needs_title and message.status == Message.Status.COMPLETE:
        try:
            await aenqueue(conversation_title_generate, str(job.conversation_id))
        except Exception as exc:  # the broker is down: the conversation keeps "New conversation"
            logger.warning("could not queue the title of %s: %s", job.conversation_id, exc)
    if stored and job.needs_summary and message.status == Message.Status.COMPLETE:
        try:
            await aenqueue(conversation_summarise, str(job.conversation_id))
        except Exception as exc:  # the broker is down: the next reply queues it again
            logger.warning("could not queue the summary of %s: %s", job.conversation_id, exc)


async def _store(h: Hub, job: ReplyJob, outcome: ReplyOutcome) -> None:
    """The reply's final write, tried again while the database is away (its text is only
    in memory until then), holding the conversation's lease meanwhile."""
    for pause in STORE_PAUSES:
        try:
            await h.finishes.submit((job, outcome))
            return
        except DatabaseError as exc:
            logger.warning("could not store reply %s yet: %s", job.reply.pk, exc)
        await _pause_holding_lease(job.conversation_id, pause)
    await h.finishes.submit((job, outcome))


async def _pause_holding_lease(conversation_id: object, seconds: float) -> None:
    """Sleep, refreshing the lease every third of its lifetime. (Only between tries of the
    final write: a refresh after the write had released the lease would take it again.)"""
    step = settings.ORION_GENERATION_LEASE_SECONDS / 3
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            await database_sync_to_async(lease_refresh)(conversation_id)
        except Exception as exc:
            logger.warning("could not refresh the generation lease: %s", exc)
        await asyncio.sleep(min(step, left))


class LeaseKeeper:
    """Holds the one-reply-per-conversation lease for as long as the reply runs, refreshing
    it every third of its lifetime (a timer, not a task per reply)."""

    def __init__(self, conversation_id: object) -> None:
        self.conversation_id = conversation_id
        self.loop = asyncio.get_running_loop()
        self.period = settings.ORION_GENERATION_LEASE_SECONDS / 3
        self.handle = self.loop.call_later(self.period, self._due)
        self.refresh: asyncio.Task[None] | None = None

    def _due(self) -> None:
        if self.refresh is None or self.refresh.done():
            self.refresh = self.loop.create_task(self._refresh())
        self.handle = self.loop.call_later(self.period, self._due)

    async def _refresh(self) -> None:
        try:
            await database_sync_to_async(lease_refresh)(self.conversation_id)
        except Exception as exc:  # (Redis restarting): the reply goes on
            logger.warning("could not refresh the generation lease: %s", exc)

    def stop(self) -> None:
        self.handle.cancel()
        if self.refresh is not None:
            self.refresh.cancel()


async def reply_stop(*, conversation_id: str, reason: str = "stopped") -> None:
    """Stop the reply being generated for a conversation, here or in any other server
    process: its model request is closed, nothing more is paid for, the text so far is
    kept and the reply ends ``interrupted`` with ``reason`` ("stopped" by the person; a
    deleted conversation's reply is stopped with "interrupted")."""
    reply_stop_here(conversation_id, reason)
    if settings.ORION_SHARED_STREAMS:
        await hub().remote.stop_everywhere(conversation_id, reason)


def reply_stop_here(conversation_id: str, reason: str = "stopped") -> None:
    live = hub().replies.get(conversation_id)
    if live is not None:
        live.stop(reason)
