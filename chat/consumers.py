from __future__ import annotations

from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404

from chat.live import sockets

CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN = 1013  # the database or Redis is away: the page reconnects shortly


class ConversationConsumer(AsyncWebsocketConsumer):
    """One socket per open conversation page. Parses, authorizes, delegates, sends."""

    conversation_id = ""
    attachment: sockets.Attachment | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' own dispatch first closes stale database connections: a hop to the
        # database thread before every frame and event, which a burst of sends queues a
        # hundred of ahead of its own work (bench/README.md, "Decisions"). Every database
        # call here goes through ``database_sync_to_async``, which does that itself on the
        # thread it uses, so this dispatch only routes.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.conversation_id = str(self.scope["url_route"]["kwargs"]["conversation_id"])
        # Accept first so the page sees our close code (4403) rather than a bare refusal.
        await self.accept()
        try:
            self.attachment = await sockets.socket_attach(
                scope=self.scope,
                conversation_id=self.conversation_id,
                send=self.send_html,
                channel_name=self.channel_name,
                resume=b"resume=1" in self.scope.get("query_string", b"").split(b"&"),
            )
        except Http404:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        except sockets.Unavailable:
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        await self.send_all(self.attachment.frames)

    async def disconnect(self, code: int) -> None:
        if self.attachment is not None:
            await sockets.socket_detach(attachment=self.attachment)
            self.attachment = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.attachment is None:
            return
        client = self.scope.get("client") or ("", 0)
        try:
            frames = await sockets.socket_receive(
                attachment=self.attachment,
                raw=text_data if text_data is not None else bytes_data,
                ip=client[0] or "",
            )
        except Http404:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.send_all(frames)

    async def send_html(self, html: str) -> None:
        await self.send(text_data=html)

    async def send_all(self, frames: list[str]) -> None:
        for frame in frames:
            await self.send_html(frame)

    # --- channel-layer events (handler names follow the event types) --------------------------

    async def reply_frame(self, event: dict[str, Any]) -> None:
        if self.attachment is not None:
            await self.send_all(
                sockets.socket_remote_frame(attachment=self.attachment, event=event)
            )

    async def reply_started(self, event: dict[str, Any]) -> None:
        if self.attachment is not None:
            await self.send_all(
                await sockets.socket_reply_started(attachment=self.attachment, event=event)
            )

    async def conversation_titled(self, event: dict[str, Any]) -> None:
        await self.send_html(event["html"])

    async def stream_watch(self, event: dict[str, Any]) -> None:
        """Meant for the process generating the reply; sockets ignore it."""

    async def stream_unwatch(self, event: dict[str, Any]) -> None:
        """Meant for the process generating the reply; sockets ignore it."""

    async def reply_stop(self, event: dict[str, Any]) -> None:
        """Meant for the process generating the reply; sockets ignore it."""
