"""This process's open sockets and the replies it is generating.

Sockets open in this process are fed directly, without a channel-layer round trip per
frame. With a shared channel layer (Redis), every frame of a reply also goes to the
conversation's group, tagged with this process's id, so pages served by other processes
see it live; pages here ignore frames tagged with their own process.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from chat.batching import BURST_QUIET, Batcher
from chat.live.frames import group_name
from chat.models import Message
from chat.services import (
    INSTANCE_ID,
    Checkpoint,
    ReplyJob,
    ReplyOutcome,
    SendRequest,
    messages_checkpoint,
    messages_finish,
    messages_send,
)

logger = logging.getLogger(__name__)

Sender = Callable[[str], Awaitable[None]]


@dataclass(eq=False)
class LiveReply:
    job: ReplyJob
    shown: asyncio.Event = field(default_factory=asyncio.Event)  # the exchange is on the pages
    parts: list[str] = field(default_factory=list)
    # Frames go out under this lock, so they arrive in order on every page.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def conversation_id(self) -> str:
        return str(self.job.conversation_id)

    @property
    def message(self) -> Message:
        """The reply as it stands, for rendering (the text lives here, not in the database)."""
        message = self.job.reply
        message.content = "".join(self.parts)
        return message


class Hub:
    """This process's sockets and replies (one per event loop)."""

    def __init__(self) -> None:
        self.sockets: dict[str, set[Sender]] = defaultdict(set)
        self.replies: dict[str, LiveReply] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        # Writes from many replies at once share a thread hop (see chat.batching). A burst
        # of sends is admitted and stored together once it has been read in full.
        self.sends: Batcher[SendRequest, ReplyJob] = Batcher(
            database_sync_to_async(lambda items: messages_send(requests=items)),
            quiet=BURST_QUIET,
        )
        self.checkpoints: Batcher[Checkpoint, None] = Batcher(
            database_sync_to_async(lambda items: messages_checkpoint(checkpoints=items))
        )
        self.finishes: Batcher[tuple[ReplyJob, ReplyOutcome], None] = Batcher(
            database_sync_to_async(lambda items: messages_finish(finished=items))
        )

    def subscribe(self, conversation_id: str, send: Sender) -> LiveReply | None:
        """Start feeding ``send``; returns the reply in progress here, if any."""
        self.sockets[conversation_id].add(send)
        return self.replies.get(conversation_id)

    def unsubscribe(self, conversation_id: str, send: Sender) -> None:
        senders = self.sockets.get(conversation_id)
        if senders is not None:
            senders.discard(send)
            if not senders:
                del self.sockets[conversation_id]

    def spawn(self, coroutine: Awaitable[None]) -> None:
        """Run ``coroutine`` detached from any socket, kept until it ends."""
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def publish(self, live: LiveReply, html: str, *, kind: str, here: bool = True) -> None:
        """Send a frame of ``live`` to every page showing its conversation, in order (call
        it holding ``live.lock``); with ``here`` False, only to pages in other processes.

        ``kind`` tells pages elsewhere what the frame is: ``exchange``, ``delta``, ``full``
        (the reply as it stands) or ``final``.
        """
        conversation_id = live.conversation_id
        for send in tuple(self.sockets.get(conversation_id, ())) if here else ():
            try:
                await send(html)
            except Exception:  # a socket that just went away must not stop the reply
                logger.debug("dropping a socket that failed to send", exc_info=True)
                self.unsubscribe(conversation_id, send)
        if not settings.ORION_SHARED_STREAMS:
            return
        event = {"type": "reply.frame", "origin": INSTANCE_ID, "reply": live.job.reply.pk,
                 "kind": kind, "html": html}  # fmt: skip
        try:
            await get_channel_layer().group_send(group_name(conversation_id), event)
        except Exception:  # pages elsewhere catch up from the database; the reply goes on
            logger.exception(
                "could not send a frame of reply %s to other processes", event["reply"]
            )


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub()
    return found
