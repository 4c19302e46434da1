"""Passages from a document's blocks: cut by headings first, then by length, with overlap.

A passage never spans two heading paths. Within a section whole paragraphs are packed up
to ``max_chars``; a longer paragraph is cut at sentence ends, a longer sentence between
words (a word longer still, every ``max_chars``). Each passage after the first of a section
begins with the last whole sentences, or words, of the one before, up to
``overlap_chars``, so a fact cut in two is still found whole. Whitespace is collapsed
within paragraphs, which are separated by a blank line. The same blocks always give the
same passages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import groupby

from agents.knowledge.types import Block, Passage

HEADING_SEPARATOR = " › "

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# After . ! ? or …, possibly closed by a quote or bracket, then a space.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’)\]])\s+")

Piece = tuple[int, str]  # (the paragraph it comes from, within its section; its text)


def passages_make(
    blocks: list[Block], *, max_chars: int = 1200, overlap_chars: int = 150
) -> list[Passage]:
    """The passages to store for ``blocks``, in document order; never an empty one."""
    if max_chars < 1 or not 0 <= overlap_chars < max_chars:
        raise ValueError("need max_chars >= 1 and 0 <= overlap_chars < max_chars")
    passages: list[Passage] = []
    for path, section in groupby(blocks, key=lambda b: heading_path(b.headings)):
        paragraphs = [p for block in section for p in _paragraphs(block.text)]
        passages.extend(
            Passage(heading_path=path, text=text)
            for text in _packed(paragraphs, max_chars, overlap_chars)
        )
    return passages


def heading_path(headings: tuple[str, ...]) -> str:
    return HEADING_SEPARATOR.join(" ".join(h.split()) for h in headings if h.strip())


def _paragraphs(text: str) -> list[str]:
    collapsed = (" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text))
    return [p for p in collapsed if p]


def _packed(paragraphs: list[str], max_chars: int, overlap_chars: int) -> Iterator[str]:
    current: list[Piece] = []
    size = 0
    for index, paragraph in enumerate(paragraphs):
        for unit in _units(paragraph, max_chars):
            piece = (index, unit)
            if current and size + _added(current, piece) > max_chars:
                yield _joined(current)
                current = _overlap(current, overlap_chars)
                while current and _length(current) + _added(current, piece) > max_chars:
                    current.pop(0)
                size = _length(current)
            size += _added(current, piece)
            current.append(piece)
    if current:
        yield _joined(current)


def _units(paragraph: str, max_chars: int) -> list[str]:
    """The paragraph whole if it fits, else its sentences, cut further where too long."""
    if len(paragraph) <= max_chars:
        return [paragraph]
    units: list[str] = []
    for sentence in _sentences(paragraph):
        if len(sentence) <= max_chars:
            units.append(sentence)
            continue
        for word in sentence.split(" "):
            units.extend(word[i : i + max_chars] for i in range(0, len(word), max_chars))
    return units


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s]


def _overlap(pieces: list[Piece], limit: int) -> list[Piece]:
    """The last whole sentences of ``pieces`` within ``limit``, or else its last words."""
    tail: list[Piece] = []
    for index, text in reversed(pieces):
        for sentence in reversed(_sentences(text)):
            candidate = [(index, sentence), *tail]
            if _length(candidate) <= limit:
                tail = candidate
                continue
            if not tail and (words := _last_words(sentence, limit)):
                tail = [(index, " ".join(words))]
            return tail
    return tail


def _last_words(sentence: str, limit: int) -> list[str]:
    words: list[str] = []
    size = -1
    for word in reversed(sentence.split(" ")):
        if size + 1 + len(word) > limit:
            break
        words.insert(0, word)
        size += 1 + len(word)
    return words


def _added(current: list[Piece], piece: Piece) -> int:
    """How much longer the passage gets with ``piece`` appended (its separator included)."""
    if not current:
        return len(piece[1])
    return len(piece[1]) + (1 if current[-1][0] == piece[0] else 2)


def _length(pieces: list[Piece]) -> int:
    return len(_joined(pieces))


def _joined(pieces: list[Piece]) -> str:
    """Pieces of one paragraph joined by a space, paragraphs by a blank line."""
    out: list[str] = []
    for n, (index, text) in enumerate(pieces):
        if n:
            out.append(" " if pieces[n - 1][0] == index else "\n\n")
        out.append(text)
    return "".join(out)
