"""Model access. The only module in Orion that talks to a model (and imports ``openai``).

Any OpenAI-compatible endpoint works: OpenAI, Azure, vLLM, Ollama, llama.cpp, LM Studio,
Gemini's and Anthropic's compatibility endpoints, and Orion's own simulator.

Every call is configured by one ``openai.AsyncOpenAI`` client per provider: its base URL,
its headers (credentials included), its timeouts and its HTTP client. Plain completions go
through the SDK. The streamed chat completion, which is the hot path, sends its request
through that same HTTP client with the SDK's own headers and reads the server-sent events
itself, parsing each with the standard JSON decoder. Measured on the bench machine
(``bench/sdk_cost.py``), the SDK's streamed call costs ~2 ms of CPU per call and ~0.19 ms
per token on its own HTTP stack, against ~0.2 ms and ~0.03 ms for this path: with a
hundred people sending at once, that alone would be ~180 ms before the last request
leaves, and at 50 tokens/s 100 streams would take ~0.85 of a core more. Errors and
retries follow the SDK's rules (connection errors, 408, 409, 429 and 5xx are retried with
backoff).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import weakref
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import cast

import httpx2 as httpx
import openai
from django.conf import settings
from django.core.signals import setting_changed

from agents.transport import LeanTransport, PreparedPost

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
    return _provider_from_settings()


@cache  # read once per answer otherwise; settings change only in tests, which say so
def _provider_from_settings() -> ProviderConfig | None:
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


def _forget_provider(**kwargs: object) -> None:
    _provider_from_settings.cache_clear()


setting_changed.connect(_forget_provider)


@dataclass(frozen=True)
class _Route:
    """One provider as configured on one event loop: the SDK client and its HTTP client,
    plus what a streamed request needs, worked out once."""

    sdk: openai.AsyncOpenAI
    http: httpx.AsyncClient
    transport: LeanTransport | None  # None with the SDK's own HTTP stack
    stream_url: httpx.URL
    headers: httpx.Headers
    timeout: dict[str, float | None]
    stream_post: PreparedPost | None  # the streamed call, ready for the lean transport


# One route per event loop and provider: httpx pools are bound to the loop that made them.
_routes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[ProviderConfig, _Route]]
_routes = weakref.WeakKeyDictionary()


def _route(config: ProviderConfig) -> _Route:
    per_loop = _routes.setdefault(asyncio.get_running_loop(), {})
    route = per_loop.get(config)
    if route is None:
        timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
        transport = LeanTransport() if config.http == "lean" else None
        http = (
            httpx.AsyncClient(transport=transport)
            if transport is not None
            else httpx.AsyncClient(
                limits=httpx.Limits(max_connections=2000, max_keepalive_connections=500)
            )
        )
        sdk = openai.AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key,
            timeout=timeout,
            max_retries=config.max_retries,
            http_client=http,
        )
        headers = httpx.Headers(
            {
                name: value
                for name, value in {**sdk.default_headers, **sdk.auth_headers}.items()
                if isinstance(value, str)  # the SDK marks headers it leaves out with Omit
            }
        )
        stream_url = sdk.base_url.join("chat/completions")
        timeouts = timeout.as_dict()
        route = _Route(
            sdk=sdk,
            http=http,
            transport=transport,
            stream_url=stream_url,
            headers=headers,
            timeout=timeouts,
            stream_post=(
                transport.prepare_post(stream_url, headers, timeouts)
                if transport is not None
                else None
            ),
        )
        per_loop[config] = route
    return route


def _client(config: ProviderConfig) -> openai.AsyncOpenAI:
    return _route(config).sdk


# ``json.loads`` of bytes guesses their encoding and checks for trailing whitespace: half
# the cost of parsing a streamed chunk, once per token.
_decode_json = json.JSONDecoder().raw_decode


def _parse_event(payload: bytes) -> tuple[list[str], str | None, Usage | None]:
    """One SSE ``data:`` payload, stripped -> (texts, finish_reason, usage)."""
    try:
        text = payload.decode()
        chunk, end = _decode_json(text)
    except ValueError:  # (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        raise provider_error("provider_error") from None
    if end != len(text) or not isinstance(chunk, dict):
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


def streams_prepare(config: ProviderConfig, count: int) -> None:
    """``count`` streamed calls are about to start: have connections ready for them.

    Only Orion's own transport opens connections ahead; httpx opens them on demand.
    """
    route = _route(config)
    if route.transport is not None:
        route.transport.preconnect(route.stream_url, count, timeout=config.connect_timeout)


async def stream_chat(
    config: ProviderConfig, messages: list[dict[str, str]], *, max_tokens: int
) -> AsyncIterator[StreamEvent]:
    """Stream one chat completion as ``TextDelta``s, then exactly one ``StreamEnd``.

    Each ``TextDelta`` holds all the text that arrived in one network read, so a caller that
    reads at its own pace (every 40 ms, say) gets the tokens since its last read at once.
    Raises ``ProviderError`` on any failure, including a stream that ends without
    finishing (a dropped connection).
    """
    route = _route(config)
    body = json.dumps(
        {
            "model": config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    usage: Usage | None = None
    finish: str | None = None
    done = False
    response = await _open_stream(route, body, retries=config.max_retries)
    # Orion's transport hands over the body as it reads it; httpx's decoding and chunking
    # layers are only needed for a compressed body (none is asked for).
    reads = cast(
        "AsyncIterable[bytes]",
        response.stream
        if route.transport is not None and "content-encoding" not in response.headers
        else response.aiter_bytes(),
    )
    try:
        buffer = b""
        async for data in reads:
            # Server-sent events are separated by a blank line; a read may hold
            # several events or part of one.
            buffer += data
            *events, buffer = buffer.split(b"\n\n")
            texts: list[str] = []
            for event in events:
                for line in event.splitlines():
                    if not line.startswith(b"data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                        break
                    chunk_texts, chunk_finish, chunk_usage = _parse_event(payload)
                    texts += chunk_texts
                    finish = chunk_finish or finish
                    usage = chunk_usage or usage
            if texts:
                yield TextDelta("".join(texts))
    except httpx.HTTPError as exc:
        logger.warning("model stream failed: %s", type(exc).__name__)
        raise _map_sdk_error(exc) from exc
    finally:
        await response.aclose()
    if not done and finish is None:
        raise provider_error("dropped")
    yield StreamEnd(usage=usage, finish_reason=finish)


_RETRY_STATUSES = {408, 409, 429}


def _status_error(status: int) -> ProviderError:
    if status in (401, 403):
        return provider_error("auth")
    if status == 429:
        return provider_error("rate_limited")
    if status == 408:
        return provider_error("timeout")
    if 400 <= status < 500:
        return provider_error("bad_request")
    return provider_error("provider_error")


def _retry_delay(attempt: int, headers: httpx.Headers | None) -> float:
    """The SDK's schedule: the server's ``Retry-After`` if short, else jittered backoff."""
    if headers is not None:
        try:
            asked = float(headers.get("retry-after", ""))
        except ValueError:
            asked = -1.0
        if 0 <= asked <= 60:
            return asked
    return min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * random.random())  # noqa: S311


async def _open_stream(route: _Route, body: bytes, *, retries: int) -> httpx.Response:
    """Send the request; returns a response with status < 400 whose body is still unread."""
    attempt = 0
    while True:
        try:
            if route.transport is not None and route.stream_post is not None:
                # Straight to the transport: there are no auth flows or redirects to run.
                response = await route.transport.post(route.stream_post, body)
            else:
                request = httpx.Request(
                    "POST",
                    route.stream_url,
                    headers=route.headers,
                    content=body,
                    extensions={"timeout": route.timeout},
                )
                response = await route.http.send(request, stream=True)
        except httpx.TransportError as exc:
            if attempt < retries:
                await asyncio.sleep(_retry_delay(attempt, None))
                attempt += 1
                continue
            logger.warning("model call failed: %s", type(exc).__name__)
            raise _map_sdk_error(exc) from exc
        if response.status_code < 400:
            return response
        try:
            detail = (await response.aread())[:300]
        except httpx.HTTPError:
            detail = b""
        finally:
            await response.aclose()
        status = response.status_code
        if attempt < retries and (status in _RETRY_STATUSES or status >= 500):
            await asyncio.sleep(_retry_delay(attempt, response.headers))
            attempt += 1
            continue
        logger.warning("model call failed: HTTP %s %r", status, detail)
        raise _status_error(status)


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
