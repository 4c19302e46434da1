"""The stage protocol: what every step of the answer pipeline looks like.

A reply goes through an ordered list of stages (``agents.pipeline.runner``). Each gets
the reply's ``ReplyContext`` and either answers (returns the stream of the answer) or
returns None to pass the reply on to the next stage. Stages that only look at or enrich
the reply (a guard, retrieval) write what they found on the context and pass it on.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from agents.pipeline.events import AnswerEvent
from agents.providers import ProviderConfig

AnswerStream = AsyncGenerator[AnswerEvent, None]


@dataclass(slots=True)
class ReplyContext:
    """What the stages of one reply share."""

    history: list[dict[str, str]]  # oldest first, ending with the person's message
    provider: ProviderConfig | None  # None: offline mode


class Stage(Protocol):
    """One step of the pipeline, made once and used for every reply."""

    name: str

    async def answer(self, context: ReplyContext) -> AnswerStream | None:
        """The answer's stream if this stage answers the reply, else None."""
        ...
