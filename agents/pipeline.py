"""The answer pipeline: what turns a conversation into a streamed reply.

Today it has one stage, generation from the configured provider, plus offline mode.
Later stages (guard, cache, rules, retrieval, tools, output check) slot in here without
the chat app changing: it only ever sees ``TextDelta``s, one ``AnswerDone`` or an
``AnswerError``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from agents.providers import (
    ProviderError,
    TextDelta,
    Usage,
    configured_provider,
    stream_chat,
    streams_prepare,
)

logger = logging.getLogger(__name__)

AnswerError = ProviderError

OFFLINE_REPLY = (
    "Orion is running in **offline mode**: no language model is configured, so it cannot "
    "answer free-form questions yet. An administrator can connect one by setting "
    "`OPENAI_BASE_URL` (and `OPENAI_API_KEY`, `ORION_MODEL`)."
)


@dataclass(frozen=True, slots=True)
class AnswerDone:
    provider: str
    model: str
    usage: Usage | None
    cost: Decimal | None
    finish_reason: str | None


AnswerEvent = TextDelta | AnswerDone


@dataclass(frozen=True, slots=True)
class ModelStatus:
    offline: bool
    simulated: bool
    model: str
    provider: str


def model_status() -> ModelStatus:
    """What answers: shown on every page so nobody mistakes the simulator for a model."""
    config = configured_provider()
    if config is None:
        return ModelStatus(offline=True, simulated=False, model="", provider="offline")
    return ModelStatus(
        offline=False, simulated=config.simulated, model=config.model, provider=config.name
    )


def _model_input(history: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"role": "system", "content": settings.ORION_SYSTEM_PROMPT}, *history]


def answers_prepare(count: int) -> None:
    """Up to ``count`` answers may be asked for soon (messages being stored, pages open):
    have model connections ready for them. Call on the event loop that will stream them.
    Best effort: a failure here is left for the answer itself to meet and report."""
    if count <= 0:
        return
    try:
        config = configured_provider()
        if config is not None:
            streams_prepare(config, count)
    except Exception:
        logger.warning("could not open model connections ahead", exc_info=True)


async def answer_stream(*, history: list[dict[str, str]]) -> AsyncIterator[AnswerEvent]:
    """Stream the reply to ``history`` (oldest first, ending with the user's turn)."""
    config = configured_provider()
    if config is None:
        yield TextDelta(OFFLINE_REPLY)
        yield AnswerDone(provider="offline", model="", usage=None, cost=None, finish_reason="stop")
        return
    async for event in stream_chat(
        config, _model_input(history), max_tokens=settings.ORION_MAX_REPLY_TOKENS
    ):
        if isinstance(event, TextDelta):
            yield event
        else:
            yield AnswerDone(
                provider=config.name,
                model=config.model,
                usage=event.usage,
                cost=config.cost(event.usage) if event.usage else None,
                finish_reason=event.finish_reason,
            )
