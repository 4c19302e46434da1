"""Conversation titles, suggested by the model (or from the first words, offline)."""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async

from agents.pipeline.config import staff_config
from agents.providers import ProviderError, complete_chat, configured_provider

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
    """A title for a conversation that opens with ``first_message``; never raises."""
    config = configured_provider()
    if config is not None:
        try:
            prompt = (await sync_to_async(staff_config)()).prompt(TITLE_PROMPT)
            messages = [
                {"role": "system", "content": prompt.text},
                {"role": "user", "content": first_message[:2000]},
            ]
            text, _usage = await complete_chat(config, messages, max_tokens=20)
        except ProviderError as exc:
            logger.info("title generation fell back to first words: %s", exc.code)
        except Exception:  # a title is a nicety: never let it break what asked for it
            logger.warning("title generation failed; using first words", exc_info=True)
        else:
            if title := _tidy(text):
                return title
    return _tidy(_fallback_title(first_message)) or "New conversation"
