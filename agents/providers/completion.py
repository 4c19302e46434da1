"""A non-streamed chat completion through the openai SDK (titles, short jobs).

The SDK's own retries are off; the call is retried under ``agents.providers.retries``
like the streamed one, and its errors become the same ``ProviderError`` codes.
"""

from __future__ import annotations

import logging

import httpx2
import openai

from agents.providers.client import sdk_client
from agents.providers.config import ProviderConfig
from agents.providers.errors import ProviderError, status_error
from agents.providers.events import Usage
from agents.providers.retries import with_retries

logger = logging.getLogger(__name__)


async def complete_chat(
    config: ProviderConfig, messages: list[dict[str, str]], *, max_tokens: int
) -> tuple[str, Usage | None]:
    """One completion: (text, usage). Raises ``ProviderError``."""

    async def attempt() -> tuple[str, Usage | None]:
        try:
            result = await sdk_client(config).chat.completions.create(
                model=config.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
            )
        except openai.OpenAIError as exc:
            raise _sdk_failure(exc) from exc
        text = (result.choices[0].message.content or "") if result.choices else ""
        usage = result.usage
        return text, Usage(usage.prompt_tokens, usage.completion_tokens) if usage else None

    return await with_retries(attempt, retries=config.max_retries)


def _sdk_failure(exc: openai.OpenAIError) -> ProviderError:
    if isinstance(exc, openai.APIStatusError):
        logger.warning("model call failed: HTTP %s %r", exc.status_code, exc.response.text[:300])
        return status_error(exc.status_code, exc.response.headers)
    logger.warning("model call failed: %.300s", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, openai.APITimeoutError):
        # The SDK raises it for both; only a connection that never opened is retried.
        return ProviderError("timeout", retryable=isinstance(exc.__cause__, httpx2.ConnectTimeout))
    if isinstance(exc, openai.APIConnectionError):
        # Only a request that never reached the server is sent again: one that broke while
        # its answer was read has been answered (and billed) already.
        cannot_connect = isinstance(exc.__cause__, httpx2.ConnectError)
        return ProviderError(
            "unavailable" if cannot_connect else "dropped", retryable=cannot_connect
        )
    return ProviderError("provider_error")
