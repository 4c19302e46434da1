"""Replies watched from pages served by other server processes.

A reply is announced once to its conversation's group (after its first token: under a
burst of sends the announcements must not compete with the model requests). A page in
another process answers with ``stream.watch`` to the group; the generating process, whose
channel is in the group while the reply runs, sends that page the reply as it stands and
then every frame. Pages here are fed directly and ignore all of this. A request to watch
can miss (the reply ended meanwhile, or its process died): a page following a reply
elsewhere also looks it up now and then (``chat.live.sockets``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from chat.live.frames import group_name, message_frame
from chat.live.reply import LiveReply

logger = logging.getLogger(__name__)


class RemoteFeeds:
    """This process's side: one channel and listener for requests to watch its replies."""

    def __init__(self, replies: dict[str, LiveReply]) -> None:
        self.replies = replies
        self.channel: str | None = None
        self._listener: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def ensure_channel(self) -> str:
        # Replies starting at once must share one channel (the "origin" pages here
        # recognise) and one listener.
        async with self._lock:
            if self.channel is None:
                self.channel = await get_channel_layer().new_channel()
                self._listener = asyncio.create_task(self._listen(self.channel))
        return self.channel

    async def _listen(self, channel: str) -> None:
        layer = get_channel_layer()
        while True:
            try:
                event = await layer.receive(channel)
            except Exception:  # the channel layer's connection broke: wait, then listen again
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # (the loop is shutting down)
                    raise
                logger.exception("could not receive requests to watch replies")
                await asyncio.sleep(1.0)
                continue
            try:
                await self._on_event(event)
            except Exception:
                logger.exception("could not handle %s", event.get("type"))

    async def _on_event(self, event: dict[str, Any]) -> None:
        live = self.replies.get(str(event.get("conversation")))
        if event["type"] == "reply.stop":
            if live is not None:
                live.stop(str(event.get("reason") or "interrupted"))
            return
        reply_channel = event.get("reply_channel")
        if live is None or not isinstance(reply_channel, str):
            return
        if event["type"] == "stream.watch":
            async with live.lock:
                await get_channel_layer().send(
                    reply_channel, _frame_event(live, message_frame(live.message), final=False)
                )
                live.remote.add(reply_channel)
        elif event["type"] == "stream.unwatch":
            live.remote.discard(reply_channel)

    async def feed(self, live: LiveReply, html: str, *, final: bool) -> None:
        """Send a frame to the pages in other processes that watch ``live``."""
        layer = get_channel_layer()
        event = _frame_event(live, html, final=final)
        for channel in tuple(live.remote):
            try:
                await layer.send(channel, event)
            except Exception:  # a page gone without a word (its channel full): stop feeding it
                logger.info("stopped feeding a page in another process", exc_info=True)
                live.remote.discard(channel)

    async def stop_everywhere(self, conversation_id: str, reason: str) -> None:
        """Ask the process generating this conversation's reply, wherever it is, to stop."""
        event = {"type": "reply.stop", "conversation": conversation_id, "reason": reason}
        await get_channel_layer().group_send(group_name(conversation_id), event)

    async def announce(self, live: LiveReply) -> None:
        """Join the conversation's group (pages opening elsewhere can then ask to watch)
        and, once the reply has its first token, tell the pages already open."""
        try:
            channel = await self.ensure_channel()
            layer = get_channel_layer()
            group = group_name(live.conversation_id)
            await layer.group_add(group, channel)
            await live.started.wait()
            await layer.group_send(
                group,
                {
                    "type": "reply.started",
                    "origin": channel,
                    "conversation": live.conversation_id,
                    "reply": live.job.reply.pk,
                    "html": live.exchange,
                },
            )
        except RedisError as exc:  # (restarting): pages elsewhere see the reply when it ends
            logger.warning("could not announce reply %s: %s", live.job.reply.pk, exc)
        except Exception:
            logger.exception("could not announce reply %s", live.job.reply.pk)

    async def withdraw(self, live: LiveReply, announced: asyncio.Task[None]) -> None:
        try:
            await announced
            if self.channel is not None:
                await get_channel_layer().group_discard(
                    group_name(live.conversation_id), self.channel
                )
        except RedisError as exc:  # (restarting): the group's membership expires by itself
            logger.warning("could not withdraw reply %s: %s", live.job.reply.pk, exc)
        except Exception:
            logger.exception("could not withdraw reply %s", live.job.reply.pk)


def _frame_event(live: LiveReply, html: str, *, final: bool) -> dict[str, Any]:
    return {"type": "reply.frame", "reply": live.job.reply.pk, "final": final, "html": html}


async def ask_generator(kind: str, conversation_id: str, channel_name: str) -> None:
    """``stream.watch`` or ``stream.unwatch``, to whichever process generates the reply."""
    await get_channel_layer().group_send(
        group_name(conversation_id),
        {"type": kind, "conversation": conversation_id, "reply_channel": channel_name},
    )
