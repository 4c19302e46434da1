"""Generation: the answer streamed from the configured provider.

The system prompt goes first; the provider's ``TextDelta``s are passed on as they are,
its end becomes the ``AnswerDone`` (with the cost at the provider's prices), and a
``ProviderError`` becomes an ``AnswerError`` with words a person can read.
"""

from __future__ import annotations

from contextlib import aclosing

from django.conf import settings

from agents.pipeline.errors import AnswerError
from agents.pipeline.events import AnswerDone, TextDelta
from agents.pipeline.stages import AnswerStream, ReplyContext
from agents.providers import ProviderConfig, ProviderError, stream_chat, usage_cost


class GenerateStage:
    """Answers every reply that reaches it, when a provider is configured."""

    name = "generate"

    async def answer(self, context: ReplyContext) -> AnswerStream | None:
        if context.provider is None:
            return None
        return _generate(context.provider, context.history)


def model_input(history: list[dict[str, str]]) -> list[dict[str, str]]:
    """The messages sent to the model: the system prompt, then the conversation."""
    return [{"role": "system", "content": settings.ORION_SYSTEM_PROMPT}, *history]


async def _generate(config: ProviderConfig, history: list[dict[str, str]]) -> AnswerStream:
    events = stream_chat(config, model_input(history), max_tokens=settings.ORION_MAX_REPLY_TOKENS)
    try:
        async with aclosing(events):
            async for event in events:
                if isinstance(event, TextDelta):
                    yield event
                else:
                    yield AnswerDone(
                        provider=config.name,
                        model=config.model,
                        usage=event.usage,
                        cost=usage_cost(config, event.usage) if event.usage else None,
                        finish_reason=event.finish_reason,
                    )
    except ProviderError as exc:
        raise AnswerError(exc.code) from exc
