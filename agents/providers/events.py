"""What a model call gives back: text as it arrives, token usage, how a stream ended.

``TextDelta`` and ``Usage`` travel unchanged up to the chat (``agents.pipeline`` passes
them on), so a streamed reply costs one small object per network read and no copies.
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
class StreamEnd:
    """The last event of a streamed call that finished properly."""

    usage: Usage | None
    finish_reason: str | None


StreamEvent = TextDelta | StreamEnd
