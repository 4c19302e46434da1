"""The stage protocol: what every step of the answer pipeline looks like.

A reply goes through an ordered list of stages (``agents.pipeline.runner``) in two
phases:

- ``prepare`` (synchronous, on the database thread, for a whole burst of replies at once):
  the deterministic stages (guard, cache, route) look at each reply and may answer it by
  setting ``context.ready``. Batching them keeps a burst to one cache read and one query.
- ``answer`` (on the event loop, per reply): the first stage that returns a stream answers;
  a stage that only enriches the reply (retrieval, tools) writes on the context and
  returns None.

Each stage records itself on ``context.run`` (a ``RunRecord``), whatever it decided.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from agents.knowledge.types import Hit
from agents.pipeline.events import AnswerEvent
from agents.pipeline.records import RunRecord
from agents.providers import BreakerState, ProviderConfig

if TYPE_CHECKING:
    from agents.pipeline.config import PublishedPrompt, StaffConfig

AnswerStream = AsyncGenerator[AnswerEvent, None]


@dataclass(frozen=True, slots=True)
class ReadyAnswer:
    """A whole answer found without a model (a guard refusal, a cached answer, a rule)."""

    text: str
    answered_by: str
    provider: str = ""
    model: str = ""
    sources: tuple[dict[str, Any], ...] = ()  # the passages it shows or quotes


@dataclass(slots=True)
class ReplyContext:
    """What the stages of one reply share."""

    history: list[dict[str, str]]  # oldest first, ending with the person's message
    provider: ProviderConfig | None  # the first of the chain; None: offline mode
    providers: tuple[ProviderConfig, ...] = ()  # the chain, tried in order
    breakers: dict[str, BreakerState] = field(default_factory=dict)  # read for the burst
    system_prompt: PublishedPrompt | None = None
    run: RunRecord = field(default_factory=RunRecord)
    ready: ReadyAnswer | None = None  # answered in the prepare phase
    flagged: bool = False  # the guard let it through but found it suspicious
    cache_key: str = ""  # set when the answer may be cached (a context-free question)
    # Who asks: the knowledge-base audiences whose documents they may be answered from.
    audiences: tuple[str, ...] = ("everyone",)
    passages: tuple[Hit, ...] = ()  # found for the question, numbered from 1 in the prompt
    knowledge_prompt: PublishedPrompt | None = None  # how the model is to use them
    tools: tuple[str, ...] = ()  # the tools offered to the model (staff enabled them)
    tools_used: list[str] = field(default_factory=list)  # names, in order of first use
    sources: list[dict[str, Any]] | None = None  # set by a stage that shows passages itself

    @property
    def question(self) -> str:
        return self.history[-1]["content"] if self.history else ""

    @property
    def first_turn(self) -> bool:
        return len(self.history) == 1


class Stage(Protocol):
    """One step of the pipeline, made once and used for every reply."""

    name: str

    def prepare(self, contexts: list[ReplyContext], config: StaffConfig) -> None:
        """Look at a burst of replies not answered yet (synchronous, database thread)."""
        ...

    async def answer(self, context: ReplyContext) -> AnswerStream | None:
        """The answer's stream if this stage answers the reply, else None."""
        ...
