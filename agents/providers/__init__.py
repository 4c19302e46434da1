"""Model access: the only part of Orion that talks to a model (and imports ``openai``).

Any OpenAI-compatible endpoint works: OpenAI, Azure, vLLM, Ollama, llama.cpp, LM Studio,
Gemini's and Anthropic's compatibility endpoints, and Orion's own simulator. Modules:
``config`` (providers from staff's rows or settings), ``breaker`` (a circuit breaker
per provider, shared across processes), ``costs``, ``client`` (HTTP clients per event
loop), ``retries`` (the one retry policy), ``sse`` (parsing a streamed answer),
``streaming`` (the streamed call, tools offered or not), ``completion`` (the
non-streamed call), ``errors`` and ``events`` (what calls raise and yield: text, usage,
the tool calls a turn asks for). Nothing here knows about the chat or the answer
pipeline.
"""

from __future__ import annotations

from agents.providers.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerState,
    breaker_failure,
    breaker_success,
    breaker_trial,
    breakers_read,
)
from agents.providers.completion import complete_chat
from agents.providers.config import ProviderConfig, configured_provider, provider_from_row
from agents.providers.costs import usage_cost
from agents.providers.errors import ProviderError
from agents.providers.events import StreamEnd, StreamEvent, TextDelta, ToolCallRequest, Usage
from agents.providers.streaming import stream_chat

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "BreakerState",
    "breaker_failure",
    "breaker_success",
    "breaker_trial",
    "breakers_read",
    "provider_from_row",
    "ProviderConfig",
    "ProviderError",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "ToolCallRequest",
    "Usage",
    "complete_chat",
    "configured_provider",
    "stream_chat",
    "usage_cost",
]
