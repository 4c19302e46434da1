"""What the chat sees of an answer: ``TextDelta``s, then exactly one ``AnswerDone``.

``TextDelta`` and ``Usage`` are the providers' own, passed on unchanged (no object per
token is made twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agents.providers import TextDelta, Usage


@dataclass(frozen=True, slots=True)
class AnswerDone:
    """The answer is complete: what produced it, what it used and cost, why it stopped."""

    provider: str  # the provider's name, or "offline"
    model: str
    usage: Usage | None
    cost: Decimal | None
    finish_reason: str | None
    answered_by: str = "model"  # model, cache, rule, guard, knowledge, static, offline


AnswerEvent = TextDelta | AnswerDone

__all__ = ["AnswerDone", "AnswerEvent", "TextDelta", "Usage"]
