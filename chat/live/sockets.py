"""What a conversation socket does: attach, take frames from the page, follow replies.

The consumer parses and delegates here; these functions authorize, call services and
return the frames for that page.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import DatabaseError
from django.http import Http404
from redis.exceptions import RedisError

from chat.live.collector import gc_deferred
from chat.live.frames import (
    accepted_frame,
    error_frame,
    group_name,
    message_frame,
    snapshot_frame,
)
from chat.live.generation import reply_start
from chat.live.hub import Hub, hub
from chat.live.remote import ask_generator
from chat.live.reply import LiveReply, Sender
from chat.models import Conversation, Message
from chat.owners import Owner, owner_from_scope
from chat.ratelimits import RateLimited
from chat.services import (
    INSTANCE_ID,
    ConnectState,
    ConversationBusy,
    NotStored,
    SendRequest,
    conversation_connect,
    message_mark_interrupted,
    message_retry,
    reply_if_over,
)
from chat.validation import InputError, SendCommand, parse_frame

logger = logging.getLogger(__name__)

# A page watching a reply that another process generates looks it up this often, in case
# that process died before the reply's last frame (its lease then lapses).
REMOTE_CHECK_SECONDS = 5.0


class Unavailable(Exception):  # noqa: N818
    """The database or Redis is away (restarting): the page should try again shortly."""


RESTARTING = "Orion is restarting. Your message was not sent: please send it again in a moment."


@dataclass
class Attachment:
    """A socket's standing: whose it is, which conversation, and what to send it first."""

    owner: Owner
    conversation: Conversation
    frames: list[str]
    send: Sender
    channel_name: str = ""
    remote_reply: int | None = None  # a live reply generated elsewhere that this page watches
    watchdog: asyncio.Task[None] | None = None

    @property
    def conversation_id(self) -> str:
        return str(self.conversation.pk)


async def socket_attach(
    *,
    scope: dict[str, Any],
    conversation_id: str,
    send: Sender,
    channel_name: str,
    resume: bool = False,
) -> Attachment:
    """Authorize a socket and start feeding it; returns the frames that bring the page up to date.

    A page that opens has just been rendered: it gets the reply in progress, if any. A page
    that ``resume``s after a lost connection may have missed anything (a reply that
    finished, an exchange from another tab, a new title): it gets every message again.
    Raises ``Http404`` for a conversation the socket's owner may not see, ``Unavailable``
    while the database or Redis is away.
    """
    try:
        return await _attach(scope, conversation_id, send, channel_name, resume=resume)
    except (DatabaseError, RedisError) as exc:
        logger.warning("could not attach a socket: %s", exc)
        raise Unavailable from exc


async def _attach(
    scope: dict[str, Any], conversation_id: str, send: Sender, channel_name: str, *, resume: bool
) -> Attachment:
    owner = await database_sync_to_async(owner_from_scope)(scope)
    if owner is None:
        raise Http404("No such conversation")
    h = hub()
    live_before = h.replies.get(conversation_id)
    state = await database_sync_to_async(conversation_connect)(
        owner=owner, conversation_id=conversation_id, with_messages=resume
    )
    await get_channel_layer().group_add(group_name(conversation_id), channel_name)
    attachment = Attachment(
        owner=owner,
        conversation=state.conversation,
        frames=[],
        send=send,
        channel_name=channel_name,
    )
    try:
        attachment.frames = await _catch_up(attachment, state, h, live_before, resume=resume)
    except BaseException:  # not attached after all: leave nothing behind
        await socket_detach(attachment=attachment)
        raise
    return attachment


async def _catch_up(
    attachment: Attachment,
    state: ConnectState,
    h: Hub,
    live_before: LiveReply | None,
    *,
    resume: bool,
) -> list[str]:
    """Start feeding the socket; the frames that bring its page up to date."""
    live = h.subscribe(attachment.conversation_id, attachment.send)
    message = state.live_message
    shown: Message | None = None  # the unfinished reply as it stands, if the page needs it
    if live is not None:
        shown = live.message
    elif live_before is not None:
        # It finished while this socket was attaching (its last frame went to the pages
        # subscribed then): show it as it ended, whatever the database said a moment ago.
        shown = live_before.message
    elif message is None:
        pass
    elif state.orphaned:
        # Nobody is generating it any more (the process answering it was restarted).
        shown = await database_sync_to_async(message_mark_interrupted)(message_id=message.pk)
    elif state.lease_holder == INSTANCE_ID:
        # Stored here a moment ago, its generation about to start: the exchange and the
        # first text reach this page like any other.
        shown = message
    else:
        # Generated by another process, or (its lease lost with a Redis restart) perhaps:
        # shown as last saved until that process answers or the sweep marks it.
        await watch_remote(attachment, message.pk)
        shown = message if resume else None
    if state.messages is not None:
        return [snapshot_frame(state.conversation, _as_they_stand(state.messages, shown, live))]
    return [message_frame(shown)] if shown is not None else []


def _as_they_stand(
    messages: list[Message], shown: Message | None, live: LiveReply | None
) -> list[Message]:
    """The stored messages, with the unfinished reply's text as it stands. A reply this
    process started after they were read is added once its exchange has gone out (before
    that, the exchange frame itself brings it)."""
    if shown is not None:
        messages = [shown if m.pk == shown.pk else m for m in messages]
    if (
        live is not None
        and live.shown.is_set()
        and all(m.pk != live.job.reply.pk for m in messages)
    ):
        user = live.job.user_message
        if user is not None and all(m.pk != user.pk for m in messages):
            messages.append(user)
        messages.append(live.message)
    return messages


async def socket_detach(*, attachment: Attachment) -> None:
    conversation_id, channel_name = attachment.conversation_id, attachment.channel_name
    hub().unsubscribe(conversation_id, attachment.send)
    if attachment.watchdog is not None:
        attachment.watchdog.cancel()
    try:
        if attachment.remote_reply is not None:
            attachment.remote_reply = None
            await ask_generator("stream.unwatch", conversation_id, channel_name)
        await get_channel_layer().group_discard(group_name(conversation_id), channel_name)
    except RedisError as exc:  # Redis is away: the group's membership expires by itself
        logger.warning("could not leave a conversation's group: %s", exc)


async def watch_remote(attachment: Attachment, reply: int) -> None:
    """Ask the process generating ``reply`` to feed this page, and look the reply up now
    and then in case that process dies (or the request misses it) before its last frame."""
    attachment.remote_reply = reply
    await ask_generator("stream.watch", attachment.conversation_id, attachment.channel_name)
    if attachment.watchdog is None or attachment.watchdog.done():
        attachment.watchdog = asyncio.create_task(_remote_watchdog(attachment))


async def _remote_watchdog(attachment: Attachment) -> None:
    while (reply := attachment.remote_reply) is not None:
        await asyncio.sleep(REMOTE_CHECK_SECONDS)
        if reply != attachment.remote_reply:
            continue  # the page moved on to a newer reply meanwhile
        try:
            ended = await database_sync_to_async(reply_if_over)(
                message_id=reply, conversation_id=attachment.conversation_id
            )
            if ended is not None and reply == attachment.remote_reply:
                attachment.remote_reply = None
                await attachment.send(message_frame(ended))
        except (DatabaseError, RedisError) as exc:  # away for now: look again next time
            logger.warning("could not check on a reply generated elsewhere: %s", exc)
        except Exception:
            logger.exception("could not check on a reply generated in another process")
            return


async def socket_reply_started(*, attachment: Attachment, event: dict[str, Any]) -> list[str]:
    """A reply started somewhere: if in another process, show it and ask to watch it."""
    reply, html = event.get("reply"), event.get("html")
    if event.get("origin") == hub().remote.channel or not isinstance(reply, int):
        return []  # generated here: this process's sockets are fed directly
    if reply == attachment.remote_reply:
        # The page opened while the reply was pending and shows it already; its request
        # to watch may have gone out before the generating process joined the group.
        await ask_generator("stream.watch", attachment.conversation_id, attachment.channel_name)
        return []
    await watch_remote(attachment, reply)
    return [html] if isinstance(html, str) else []


def socket_remote_frame(*, attachment: Attachment, event: dict[str, Any]) -> list[str]:
    """A frame from the process generating the reply this page watches."""
    if event.get("final") and event.get("reply") == attachment.remote_reply:
        attachment.remote_reply = None
    html = event.get("html")
    return [html] if isinstance(html, str) else []


async def socket_receive(*, attachment: Attachment, raw: str | bytes | None, ip: str) -> list[str]:
    """Handle one frame from the page; returns the frames for that page alone.

    Every failure comes back as an error fragment for this page alone (the text stays in
    the composer, the socket open). ``Http404`` (the conversation was deleted meanwhile)
    propagates.
    """
    h = hub()
    if h.draining:  # the page reconnects to a server that takes it once this one is gone
        return [error_frame(RESTARTING)]
    h.sending += 1
    try:
        return await _take(attachment, raw, ip)
    finally:
        h.sending -= 1


async def _take(attachment: Attachment, raw: str | bytes | None, ip: str) -> list[str]:
    owner, conversation = attachment.owner, attachment.conversation
    with gc_deferred():  # until the model request is out (see chat.live.collector)
        try:
            command = parse_frame(raw)
            if isinstance(command, SendCommand):
                request = SendRequest(owner, conversation, command.text, ip)
                job = await hub().sends.submit(request)
            else:
                job = await database_sync_to_async(message_retry)(
                    owner=owner, conversation=conversation, message_id=command.message_id, ip=ip
                )
        except (InputError, RateLimited, ConversationBusy, NotStored) as exc:
            return [error_frame(exc.message)]
        except DatabaseError as exc:  # a retry while the database is away
            logger.warning("could not take a frame: %s", exc)
            return [error_frame(NotStored.message)]
        except Http404:
            raise
        except Exception:
            logger.exception("could not take a frame")
            return [error_frame("Something went wrong on Orion's side. Please try again.")]
        reply_start(job)
        # The "accepted" frame can wait two passes of the event loop: under a burst of
        # sends, the model requests of every reply started in this pass go out first.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    return [accepted_frame(clear_composer=job.user_message is not None)]
