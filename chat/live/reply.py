"""A reply being generated in this process, as the pages see it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chat.models import Message
from chat.services import ReplyJob

Sender = Callable[[str], Awaitable[None]]


@dataclass(eq=False)
class LiveReply:
    job: ReplyJob
    exchange: str = ""  # the frame that showed the exchange, for pages in other processes
    shown: asyncio.Event = field(default_factory=asyncio.Event)  # the exchange is on the pages
    started: asyncio.Event = field(default_factory=asyncio.Event)  # first token (or the end)
    parts: list[str] = field(default_factory=list)
    remote: set[str] = field(default_factory=set)  # channels of pages in other processes
    # Frames go out under this lock, so they arrive in order on every page.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None  # the generation: cancelled to stop it
    finishing: bool = False  # generated in full or ended: being stored, no longer stoppable
    stop_reason: str = ""  # why it was stopped: its error code ("stopped" by the person)

    def stop(self, reason: str = "interrupted") -> None:
        """Stop generating: the model request is closed, the text so far kept, the reply
        ends ``interrupted`` with ``reason`` as its code."""
        if self.task is not None and not self.finishing:
            self.stop_reason = self.stop_reason or reason
            self.task.cancel()

    @property
    def conversation_id(self) -> str:
        return str(self.job.conversation_id)

    @property
    def message(self) -> Message:
        """The reply as it stands, for rendering (the text lives here, not in the database)."""
        message = self.job.reply
        message.content = "".join(self.parts)
        return message
