"""Passages in the prompt and the sources of an answer.

The passages found for a question go to the model numbered, in a ``<passages>`` block
(``passages_block``), under the staff-editable ``chat.knowledge`` prompt, which asks it
to cite each passage it uses as ``[n]``. The sources shown under a reply are the
passages it cited (``sources_cited``): a reply that cites none shows none, so a source
under an answer always means the answer says it used it. Each source is a small dict
stored with the message (``chat.Message.sources``) and the cached answer, so a page
shows it without reading the knowledge base, and its link survives a re-ingestion
(the document view says when the passage has changed since).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agents.knowledge.types import Hit

# A citation as models write them: [1], [2, 3], [1][3]; at most two digits, so "[2026]"
# or a Markdown link's "[text]" is not one.
CITATION = re.compile(r"\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")
HEADING_SEPARATOR = " › "


def passage_title(hit: Hit) -> str:
    """ "Guide › Chatting › Stopping": the document's title, then the passage's headings
    (once, when the document's first heading is its title)."""
    title, path = hit.title.casefold(), hit.heading_path.casefold()
    if path == title or path.startswith(title + HEADING_SEPARATOR):
        return hit.heading_path
    return HEADING_SEPARATOR.join(part for part in (hit.title, hit.heading_path) if part)


def passages_block(hits: Sequence[Hit]) -> str:
    """The passages as the model reads them: numbered from 1, each under its title."""
    body = "\n\n".join(
        f"[{n}] {passage_title(hit)}\n{hit.text.strip()}" for n, hit in enumerate(hits, start=1)
    )
    return f"<passages>\n{body}\n</passages>"


def passages_fit(hits: Sequence[Hit], max_chars: int) -> list[Hit]:
    """The best passages whose texts fit in ``max_chars`` together (the first always,
    cut if it alone is too long)."""
    kept: list[Hit] = []
    used = 0
    for hit in hits:
        if kept and used + len(hit.text) > max_chars:
            break
        kept.append(hit)
        used += len(hit.text)
    return kept


def cited_numbers(text: str) -> list[int]:
    """The passage numbers ``text`` cites, in order of first citation."""
    numbers: dict[int, None] = {}
    for match in CITATION.finditer(text):
        for part in match.group(1).split(","):
            numbers.setdefault(int(part), None)
    return list(numbers)


def source_of(n: int, hit: Hit) -> dict[str, Any]:
    """What a message keeps of a cited passage."""
    return {
        "n": n,
        "document_id": hit.document_id,
        "chunk_id": hit.chunk_id,
        "title": hit.title,
        "heading": hit.heading_path,
        "label": passage_title(hit),
    }


def sources_cited(text: str, hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """The sources of an answer: the passages it cites, by their number in the prompt
    (numbers it made up are ignored), in the order the passages were given."""
    if not hits or "[" not in text:
        return []
    cited = set(cited_numbers(text))
    return [source_of(n, hit) for n, hit in enumerate(hits, start=1) if n in cited]


def sources_all(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """Every passage as a source (an extract shown as it is)."""
    return [source_of(n, hit) for n, hit in enumerate(hits, start=1)]


# The degradation ladder's extract: how many passages, and how much of each.
EXTRACT_PASSAGES = 2
EXTRACT_CHARS = 600
EXTRACT_INTRO = "The model is unavailable right now; here is what the knowledge base says:"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def knowledge_extract(hits: Sequence[Hit]) -> str:
    """An honest extract of the best passages, as Markdown: each under its title, cut at
    a sentence end, with its number (the sources shown under it link to the passages)."""
    parts = [EXTRACT_INTRO]
    for n, hit in enumerate(hits[:EXTRACT_PASSAGES], start=1):
        text = " ".join(hit.text.split())
        if len(text) > EXTRACT_CHARS:
            ends = [m.start() for m in _SENTENCE_END.finditer(text, 0, EXTRACT_CHARS)]
            text = text[: ends[-1]] if ends else text[:EXTRACT_CHARS].rsplit(" ", 1)[0] + "…"
        parts.append(f"**[{n}] {passage_title(hit)}**\n\n> {text}")
    return "\n\n".join(parts)
