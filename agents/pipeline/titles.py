"""Conversation titles, suggested by the model (or from the first words, offline)."""

from __future__ import annotations

import logging

from agents.providers import ProviderError, complete_chat, configured_provider

logger = logging.getLogger(__name__)

TITLE_PROMPT = (
    "Write a short title (at most six words) for a conversation that starts with the "
    "user's message below. Reply with the title only, no quotes or punctuation at the end."
)
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
        messages = [
            {"role": "system", "content": TITLE_PROMPT},
            {"role": "user", "content": first_message[:2000]},
        ]
        try:
            text, _usage = await complete_chat(config, messages, max_tokens=20)
        except ProviderError as exc:
            logger.info("title generation fell back to first words: %s", exc.code)
        except Exception:  # a title is a nicety: never let it break what asked for it
            logger.warning("title generation failed; using first words", exc_info=True)
        else:
            if title := _tidy(text):
                return title
    return _tidy(_fallback_title(first_message)) or "New conversation"
