"""This process's open sockets and the replies it is generating.

Sockets open in this process are fed directly, without a channel-layer round trip per
frame. Pages served by other processes hear of a reply through the conversation's group
(one announcement per reply) and ask to watch it; from then on its frames are sent to
their channels (see ``chat.live.remote``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from collections.abc import Awaitable

from channels.db import database_sync_to_async

from chat.batching import BURST_QUIET, Batcher
from chat.live.remote import RemoteFeeds
from chat.live.reply import LiveReply, Sender
from chat.services import (
    Checkpoint,
    ReplyJob,
    ReplyOutcome,
    SendRequest,
    messages_checkpoint,
    messages_finish,
    messages_send,
)

logger = logging.getLogger(__name__)


class Hub:
    """This process's sockets and replies (one per event loop)."""

    def __init__(self) -> None:
        self.sockets: dict[str, set[Sender]] = defaultdict(set)
        self.replies: dict[str, LiveReply] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.draining = False  # the server is stopping: no more sends (chat.live.lifecycle)
        self.sending = 0  # sends taken and not yet stored and started (the drain waits)
        self.remote = RemoteFeeds(self.replies)
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

    def spawn(self, coroutine: Awaitable[None]) -> asyncio.Task[None]:
        """Run ``coroutine`` detached from any socket, kept until it ends."""
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def publish(self, live: LiveReply, html: str, *, final: bool = False) -> None:
        """Send a frame of ``live`` to every page showing its conversation, here and in
        other processes, in order (call it holding ``live.lock``)."""
        conversation_id = live.conversation_id
        for send in tuple(self.sockets.get(conversation_id, ())):
            try:
                await send(html)
            except Exception:  # a socket that just went away must not stop the reply
                logger.debug("dropping a socket that failed to send", exc_info=True)
                self.unsubscribe(conversation_id, send)
        if live.remote:
            await self.remote.feed(live, html, final=final)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub()
    return found
