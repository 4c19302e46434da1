"""The streamed chat completion: the hot path, one call per reply.

The request is a plain POST of JSON to ``<base_url>/chat/completions`` on the provider's
aiohttp session; the answer's server-sent events are read straight off the connection
and parsed by ``ChatStreamParser``. Each ``readany`` returns everything received since
the previous one, so a caller that reads at its own pace gets it all in one
``TextDelta``. The SDK's own streaming is not used here: it builds typed objects for
every chunk, and this path runs for every token of every reply.

Offered ``tools``, the model may answer a turn with tool calls instead of (or after some)
text: they come in the ``StreamEnd`` (``tool_calls``, finish reason ``"tool_calls"``), and
the caller runs them and calls again with the results (``tool`` messages).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from functools import partial
from typing import Any

import aiohttp

from agents.providers.client import StreamClient, stream_client
from agents.providers.config import ProviderConfig
from agents.providers.errors import ProviderError, status_error
from agents.providers.events import StreamEnd, StreamEvent, TextDelta
from agents.providers.retries import with_retries
from agents.providers.sse import ChatStreamParser

logger = logging.getLogger(__name__)

LOG_EXCERPT = 300  # characters of an error body to log
_REQUEST_FAILURES = (aiohttp.ClientError, TimeoutError)


async def stream_chat(
    config: ProviderConfig,
    messages: list[dict[str, Any]],
    *,
    max_tokens: int,
    tools: list[dict[str, Any]] | None = None,
) -> AsyncGenerator[StreamEvent, None]:
    """Stream one chat completion as ``TextDelta``s, then exactly one ``StreamEnd``.

    ``messages`` are OpenAI chat messages (an assistant's may carry ``tool_calls``, a
    ``tool`` message its ``tool_call_id``). ``tools``, OpenAI tool definitions, are
    offered to the model when given and not empty; the calls it asks for arrive in the
    ``StreamEnd``. Raises ``ProviderError`` on any failure, a stream that ends before
    the answer is finished (no finish reason, no ``[DONE]``) included. The request is
    retried under ``agents.providers.retries`` until the response starts, never after.
    """
    client = stream_client(config)
    request: dict[str, Any] = {
        "model": config.model,
        "messages": messages,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if tools:
        request["tools"] = tools
    body = json.dumps(request, separators=(",", ":")).encode()
    response = await with_retries(partial(_open, client, body), retries=config.max_retries)
    parser = ChatStreamParser()
    # Read at the caller's pace: what arrived meanwhile comes in one read. (A connection
    # that breaks takes with it what was received but not yet read, a coalescing
    # interval's worth at most: reading it eagerly on a task of its own would cost every
    # token of every healthy reply a task switch.)
    read = response.content.readany
    try:
        while True:
            try:
                data = await read()
            except _REQUEST_FAILURES as exc:
                if parser.finished:  # the answer is whole; only the goodbye was lost
                    break
                raise _read_failure(exc) from exc
            if not data:
                break
            text = parser.feed(data)
            if text:
                yield TextDelta(text)
        text = parser.end()
        if text:
            yield TextDelta(text)
    except BaseException:
        response.close()
        raise
    response.release()  # back to the pool when the body was read to its end
    if not parser.finished:
        logger.warning("model stream ended before the answer was finished")
        raise ProviderError("dropped")
    yield StreamEnd(
        usage=parser.usage, finish_reason=parser.finish_reason, tool_calls=parser.tool_calls()
    )


async def _open(client: StreamClient, body: bytes) -> aiohttp.ClientResponse:
    """Send the request; the response returned is a success whose body is still unread."""
    try:
        response = await client.session.post(client.url, data=body, allow_redirects=False)
    except _REQUEST_FAILURES as exc:
        failure = _request_failure(exc)
        logger.warning("model call failed (%s): %.300s", failure.code, _describe(exc))
        raise failure from exc
    if 200 <= response.status < 300:
        return response
    try:
        excerpt = (await response.content.read(LOG_EXCERPT)).decode(errors="replace")
    except _REQUEST_FAILURES:
        excerpt = ""
    finally:
        response.close()
    logger.warning("model call failed: HTTP %s %r", response.status, excerpt)
    raise status_error(response.status, response.headers)


def _request_failure(exc: BaseException) -> ProviderError:
    """Failures before a response: only those where the request went unseen are retried."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ProviderError("timeout", retryable=True)
    if isinstance(exc, TimeoutError):  # connected, but no response within the read timeout
        return ProviderError("timeout")
    if isinstance(exc, aiohttp.ClientSSLError):  # a certificate will not fix itself
        return ProviderError("unavailable")
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientHttpProxyError):
        return ProviderError("unavailable", retryable=True)
    if isinstance(exc, aiohttp.ClientConnectionError):  # e.g. a reused connection closed
        return ProviderError("dropped", retryable=True)
    return ProviderError("provider_error")  # not HTTP, a bad URL, ...


def _read_failure(exc: BaseException) -> ProviderError:
    """Failures while the answer streams: never retried (text has been handed on)."""
    logger.warning("model stream broke off: %.300s", _describe(exc))
    if isinstance(exc, TimeoutError):
        return ProviderError("timeout")
    return ProviderError("dropped")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
