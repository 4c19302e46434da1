"""Conversation titles, suggested by the model (or from the first words, offline)."""

from __future__ import annotations

import logging
import time

from asgiref.sync import sync_to_async

from agents.pipeline.config import PublishedPrompt, staff_config
from agents.pipeline.records import RunRecord
from agents.pipeline.store import runs_store
from agents.providers import (
    ProviderConfig,
    ProviderError,
    Usage,
    complete_chat,
    configured_provider,
    usage_cost,
)

logger = logging.getLogger(__name__)

TITLE_PROMPT = "chat.title"
MAX_TITLE_CHARS = 80


def _fallback_title(text: str) -> str:
    words = text.split()
    title = " ".join(words[:6])
    return title + ("…" if len(words) > 6 else "")


def _tidy(title: str) -> str:
    title = " ".join(title.replace("\n", " ").split()).strip("\"'“”‘’ ").rstrip(".")
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title


async def title_suggest(first_message: str) -> str:
    """A title for a conversation that opens with ``first_message``; never raises. The
    model call is recorded as a run of kind ``job`` with one ``title`` step (its tokens
    and cost count like a reply's)."""
    try:
        config = await sync_to_async(staff_config)()
    except Exception:
        logger.warning("title: staff configuration unreadable; using first words", exc_info=True)
        return _tidy(_fallback_title(first_message)) or "New conversation"
    provider = config.providers[0] if config.providers else configured_provider()
    if provider is not None:
        prompt = config.prompt(TITLE_PROMPT)
        messages = [
            {"role": "system", "content": prompt.text},
            {"role": "user", "content": first_message[:2000]},
        ]
        text = await _titled(provider, messages, prompt)
        if title := _tidy(text):
            return title
    return _tidy(_fallback_title(first_message)) or "New conversation"


async def _titled(
    provider: ProviderConfig, messages: list[dict[str, str]], prompt: PublishedPrompt
) -> str:
    run = RunRecord(kind="job", answered_by="model", provider=provider.name,
                    model=provider.model, prompt_version_id=prompt.version_id,
                    prompt_label=prompt.label)  # fmt: skip
    began = time.perf_counter()
    text, outcome = "", "complete"
    try:
        text, usage = await complete_chat(provider, messages, max_tokens=20)
        usage = usage or Usage(sum(len(m["content"]) for m in messages) // 4 + 1, len(text) // 4)
        run.step("title", began, outcome, {"provider": provider.name}, tokens_in=usage.tokens_in,
                 tokens_out=usage.tokens_out, cost=usage_cost(provider, usage))  # fmt: skip
    except ProviderError as exc:
        outcome = exc.code
        run.step("title", began, outcome, {"provider": provider.name})
        logger.info("title generation fell back to first words: %s", exc.code)
    except Exception:  # a title is a nicety: never let it break what asked for it
        outcome = "internal"
        run.step("title", began, outcome, {"provider": provider.name})
        logger.warning("title generation failed; using first words", exc_info=True)
    run.end()
    try:
        await sync_to_async(runs_store)(
            finished=[(None, run, "complete" if outcome == "complete" else "failed",
                       "" if outcome == "complete" else outcome)]
        )  # fmt: skip
    except Exception:
        logger.warning("title run not recorded", exc_info=True)
    return text
