"""What a model call gives back: text as it arrives, token usage, how a stream ended.

``TextDelta`` and ``Usage`` travel unchanged up to the chat (``agents.pipeline`` passes
them on), so a streamed reply costs one small object per network read and no copies.
A turn in which the model asks for tools ends with a ``StreamEnd`` carrying them
(``tool_calls``, finish reason ``"tool_calls"``), assembled from the streamed fragments.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens the provider counted for one call."""

    tokens_in: int
    tokens_out: int


@dataclass(frozen=True, slots=True)
class TextDelta:
    """Text of the answer: everything that arrived since the previous delta."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """One tool call the model asked for: ``arguments`` is its JSON text, as sent (it may
    be malformed: checking it is the caller's business)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last event of a streamed call that finished properly; ``tool_calls`` holds the
    calls of a turn that asked for tools, in the order of their ``index``."""

    usage: Usage | None
    finish_reason: str | None
    tool_calls: tuple[ToolCallRequest, ...] = ()


StreamEvent = TextDelta | StreamEnd
