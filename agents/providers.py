"""Model access. The only module in Orion that talks to a model (and imports ``openai``).

Any OpenAI-compatible endpoint works: OpenAI, Azure, vLLM, Ollama, llama.cpp, LM Studio,
Gemini's and Anthropic's compatibility endpoints, and Orion's own simulator.

Streaming reads the server-sent events through the SDK's raw streaming response and
parses each chunk with ``json.loads``: building the SDK's typed chunk objects costs about
0.2 ms of CPU per chunk, which at 50 tokens/s caps one core at ~100 concurrent streams.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import httpx2 as httpx
import openai
from django.conf import settings

from agents.transport import LeanTransport

logger = logging.getLogger(__name__)


class ProviderError(Exception):
    """A failed model call, with a reason a person understands (never internals)."""

    def __init__(self, code: str, user_message: str) -> None:
        super().__init__(f"{code}: {user_message}")
        self.code = code
        self.user_message = user_message


@dataclass(frozen=True, slots=True)
class Usage:
    tokens_in: int
    tokens_out: int


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class StreamEnd:
    usage: Usage | None
    finish_reason: str | None


StreamEvent = TextDelta | StreamEnd

_MESSAGES = {
    "timeout": "The model took too long to answer. Please try again.",
    "unavailable": "The model could not be reached. Please try again in a moment.",
    "dropped": "The connection to the model broke off before the answer was finished.",
    "provider_error": "The model provider reported an error. Please try again.",
    "rate_limited": "The model provider is busy right now. Please try again in a moment.",
    "auth": "The model provider refused Orion's credentials. An administrator needs to check "
    "the configuration.",
    "bad_request": "The model provider could not process this conversation.",
}


_MESSAGES_OTHER = {
    "interrupted": "The answer was interrupted before it finished (the server restarted).",
    "internal": "Something went wrong on our side while answering. Please try again.",
}


def error_text(code: str) -> str:
    """The explanation shown for a failed reply's ``error_code``."""
    return _MESSAGES.get(code) or _MESSAGES_OTHER.get(code) or _MESSAGES_OTHER["internal"]


def provider_error(code: str) -> ProviderError:
    return ProviderError(code, _MESSAGES[code])


def _map_sdk_error(exc: Exception) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return provider_error("timeout")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return provider_error("auth")
    if isinstance(exc, openai.RateLimitError):
        return provider_error("rate_limited")
    if isinstance(exc, openai.BadRequestError):
        return provider_error("bad_request")
    if isinstance(exc, openai.APIConnectionError | httpx.ConnectError):
        return provider_error("unavailable")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return provider_error("dropped")
    return provider_error("provider_error")


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    base_url: str
    api_key: str
    model: str
    timeout: float
    connect_timeout: float
    max_retries: int
    price_in_per_1k: Decimal
    price_out_per_1k: Decimal
    http: str = "lean"

    @property
    def simulated(self) -> bool:
        return self.model.startswith("orion-sim")

    def cost(self, usage: Usage) -> Decimal:
        total = usage.tokens_in * self.price_in_per_1k + usage.tokens_out * self.price_out_per_1k
        return (total / 1000).quantize(Decimal("0.000001"))


def configured_provider() -> ProviderConfig | None:
    """The provider from settings, or None in offline mode (no base URL)."""
    if not settings.OPENAI_BASE_URL:
        return None
    return ProviderConfig(
        name=settings.ORION_PROVIDER_NAME,
        base_url=settings.OPENAI_BASE_URL,
        # Local servers (the simulator, Ollama) accept any key; the SDK insists on one.
        api_key=settings.OPENAI_API_KEY or "not-needed",
        model=settings.ORION_MODEL,
        timeout=settings.ORION_MODEL_TIMEOUT,
        connect_timeout=settings.ORION_MODEL_CONNECT_TIMEOUT,
        max_retries=settings.ORION_MODEL_RETRIES,
        price_in_per_1k=Decimal(str(settings.ORION_PRICE_INPUT_PER_1K)),
        price_out_per_1k=Decimal(str(settings.ORION_PRICE_OUTPUT_PER_1K)),
        http=settings.ORION_MODEL_HTTP,
    )


# One client per event loop and provider: httpx pools are bound to the loop that made them.
_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[ProviderConfig, openai.AsyncOpenAI]
]
_clients = weakref.WeakKeyDictionary()


def _client(config: ProviderConfig) -> openai.AsyncOpenAI:
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(config)
    if client is None:
        client = openai.AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key,
            timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
            max_retries=config.max_retries,
            http_client=(
                httpx.AsyncClient(transport=LeanTransport())
                if config.http == "lean"
                else httpx.AsyncClient(
                    limits=httpx.Limits(max_connections=2000, max_keepalive_connections=500)
                )
            ),
        )
        per_loop[config] = client
    return client


def _parse_event(payload: bytes) -> tuple[list[str], str | None, Usage | None]:
    """One SSE ``data:`` payload -> (texts, finish_reason, usage)."""
    try:
        chunk = json.loads(payload)
    except ValueError:
        raise provider_error("provider_error") from None
    if not isinstance(chunk, dict):
        raise provider_error("provider_error")
    if "error" in chunk:
        logger.warning("provider streamed an error: %s", str(chunk["error"])[:300])
        raise provider_error("provider_error")
    texts: list[str] = []
    finish: str | None = None
    for choice in chunk.get("choices") or ():
        content = (choice.get("delta") or {}).get("content")
        if content:
            texts.append(content)
        finish = choice.get("finish_reason") or finish
    raw_usage = chunk.get("usage")
    usage = (
        Usage(
            int(raw_usage.get("prompt_tokens") or 0), int(raw_usage.get("completion_tokens") or 0)
        )
        if raw_usage
        else None
    )
    return texts, finish, usage


async def stream_chat(
    config: ProviderConfig, messages: list[dict[str, str]], *, max_tokens: int
) -> AsyncIterator[StreamEvent]:
    """Stream one chat completion as ``TextDelta``s, then exactly one ``StreamEnd``.

    Raises ``ProviderError`` on any failure, including a stream that ends without
    finishing (a dropped connection).
    """
    client = _client(config)
    usage: Usage | None = None
    finish: str | None = None
    done = False
    try:
        async with client.chat.completions.with_streaming_response.create(
            model=config.model,
            # The SDK's request-shaping pass costs ~1 ms per call on the way to the first
            # token; the body is plain JSON already, so it goes in as is. (The raw
            # streaming response streams whatever ``stream`` the SDK believes in.)
            messages=[],
            extra_body={
                "messages": messages,
                "max_tokens": max_tokens,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        ) as response:
            buffer = b""
            async for data in response.iter_bytes():
                # Server-sent events are separated by a blank line; a read may hold
                # several events or part of one.
                buffer += data
                *events, buffer = buffer.split(b"\n\n")
                for event in events:
                    for line in event.splitlines():
                        if not line.startswith(b"data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == b"[DONE]":
                            done = True
                            break
                        texts, chunk_finish, chunk_usage = _parse_event(payload)
                        finish = chunk_finish or finish
                        usage = chunk_usage or usage
                        for text in texts:
                            yield TextDelta(text)
    except ProviderError:
        raise
    except (openai.OpenAIError, httpx.HTTPError) as exc:
        logger.warning("model call failed: %s", type(exc).__name__)
        raise _map_sdk_error(exc) from exc
    if not done and finish is None:
        raise provider_error("dropped")
    yield StreamEnd(usage=usage, finish_reason=finish)


async def complete_chat(
    config: ProviderConfig, messages: list[dict[str, str]], *, max_tokens: int
) -> tuple[str, Usage | None]:
    """One non-streaming completion: (text, usage)."""
    try:
        result = await _client(config).chat.completions.create(
            model=config.model,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=max_tokens,
        )
    except (openai.OpenAIError, httpx.HTTPError) as exc:
        logger.warning("model call failed: %s", type(exc).__name__)
        raise _map_sdk_error(exc) from exc
    text = result.choices[0].message.content or "" if result.choices else ""
    usage = (
        Usage(result.usage.prompt_tokens, result.usage.completion_tokens) if result.usage else None
    )
    return text, usage
