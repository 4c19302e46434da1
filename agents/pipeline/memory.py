"""Memory: what of a long conversation the model sees.

The most recent turns go verbatim, newest first, while they fit ``ORION_HISTORY_TOKENS``
(estimated at four characters a token; the person's latest message always goes). Older
turns are replaced by a summary that a background task writes (``summary_write``, with
the ``chat.summary`` prompt) and the chat stores on the conversation; the summary goes
first, as a system message.
"""

from __future__ import annotations

from django.conf import settings

from agents.pipeline.jobs import job_complete

SUMMARY_PROMPT = "chat.summary"
SUMMARY_INTRO = "Summary of the earlier conversation:"
CHARS_PER_TOKEN = 4
MAX_SUMMARY_INPUT_CHARS = 24_000  # of older turns read for one summary (the newest of them)


def history_fit(turns: list[dict[str, str]], budget_tokens: int | None = None) -> int:
    """How many of the newest ``turns`` go verbatim within the token budget (at least one)."""
    budget = settings.ORION_HISTORY_TOKENS if budget_tokens is None else budget_tokens
    room = budget * CHARS_PER_TOKEN
    kept = 0
    for turn in reversed(turns):
        room -= len(turn["content"])
        if room < 0 and kept:
            break
        kept += 1
    return kept


def with_summary(turns: list[dict[str, str]], summary: str) -> list[dict[str, str]]:
    """``turns`` behind the summary of what came before them."""
    if not summary:
        return turns
    return [{"role": "system", "content": f"{SUMMARY_INTRO} {summary}"}, *turns]


async def summary_write(previous: str, turns: list[dict[str, str]]) -> str:
    """A summary of ``previous`` (an earlier summary, or "") followed by ``turns``; "" when
    no model could write one. The call is recorded as a run of kind ``job``."""
    if not turns:
        return ""
    lines = [f"{t['role'].capitalize()}: {t['content']}" for t in turns]
    text = "\n\n".join(lines)[-MAX_SUMMARY_INPUT_CHARS:]
    if previous:
        text = f"Summary so far: {previous}\n\n{text}"
    return (await job_complete("summary", SUMMARY_PROMPT, text, max_tokens=300) or "").strip()
