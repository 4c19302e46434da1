"""Conversation titles, suggested by the model (or from the first words, offline)."""

from __future__ import annotations

from agents.pipeline.jobs import job_complete

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
    model call is recorded as a run of kind ``job`` with one ``title`` step."""
    text = await job_complete("title", TITLE_PROMPT, first_message[:2000], max_tokens=20)
    if text and (title := _tidy(text)):
        return title
    return _tidy(_fallback_title(first_message)) or "New conversation"
