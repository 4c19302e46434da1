"""The input guard: allow, flag or block a person's message before anything answers it.

Size and character checks first, then the prompt-injection patterns (the shipped ones in
``guard_patterns`` and staff's own) over the text and over what it hides from a reader:
markdown and HTML comments, base64, invisible "tag" characters. Each matching pattern adds
its score once; a match inside hidden text adds ``HIDDEN_BONUS`` once. A blocked message
is answered with a polite refusal and nothing goes to a model; a flagged one is answered
as usual and recorded as flagged.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache

from django.conf import settings

from agents.pipeline.config import CompiledPattern, StaffConfig
from agents.pipeline.guard_patterns import (
    BLOCK_AT,
    DEFAULT_PATTERNS,
    FLAG_AT,
    HIDDEN_BONUS,
    INVISIBLE_SCORE,
)
from agents.pipeline.stages import ReadyAnswer, ReplyContext

REFUSAL = (
    "I can't help with that request: it asks me to step outside the way I'm set up to work. "
    "I'm happy to help with your question itself — please ask it directly."
)

_COMMENT = re.compile(r"<!--(.*?)(?:-->|$)|^\s*\[//\]:\s*#\s*[(\"'](.*?)[)\"']\s*$", re.S | re.M)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: str  # "allow", "flag" or "block"
    score: float
    matches: tuple[str, ...] = ()
    reason: str = ""  # for a block or flag not due to patterns: "too_long", "empty"
    hidden: tuple[str, ...] = field(default=())  # where hidden text was found


@cache
def default_patterns() -> tuple[CompiledPattern, ...]:
    # The shipped patterns are English: ASCII case-folding is enough and costs half as
    # much per message as Unicode's (bench/README.md, "The pipeline's cost").
    return tuple(
        CompiledPattern(name, re.compile(pattern, re.IGNORECASE | re.ASCII), score, needles)
        for name, pattern, score, needles in DEFAULT_PATTERNS
    )


def guard_assess(text: str, extra: Iterable[CompiledPattern] = ()) -> Verdict:
    """The guard's verdict on ``text`` with the shipped patterns and ``extra`` ones."""
    return _assess(text, _pattern_set(tuple(extra)))


def _assess(text: str, patterns: _PatternSet) -> Verdict:
    if not text.strip():
        return Verdict("block", BLOCK_AT, reason="empty")
    if len(text) > settings.ORION_MAX_MESSAGE_CHARS:
        return Verdict("block", BLOCK_AT, reason="too_long")
    score = 0.0
    matched: list[str] = []
    found = list(_hidden_texts(text))
    hidden = [(h, patterns.candidates(h.lower())) for _, h in found]
    hidden_kinds = [kind for kind, _ in found]
    if "tags" in hidden_kinds:
        score += INVISIBLE_SCORE
    hidden_hit = False
    candidates = patterns.candidates(text.lower())
    tried = candidates.union(*(near for _, near in hidden)) if hidden else candidates
    for index in sorted(tried):  # in the patterns' order
        pattern = patterns.patterns[index]
        if index in candidates and pattern.regex.search(text):
            matched.append(pattern.name)
            score += pattern.score
        elif any(index in near and pattern.regex.search(h) for h, near in hidden):
            matched.append(pattern.name)
            score += pattern.score
            hidden_hit = True
    if hidden_hit:
        score += HIDDEN_BONUS
    decision = "block" if score >= BLOCK_AT else "flag" if score >= FLAG_AT else "allow"
    return Verdict(decision, round(score, 3), tuple(matched), hidden=tuple(hidden_kinds))


@dataclass(frozen=True)
class _PatternSet:
    """Patterns, and which of them a text's words make worth trying: a pattern with
    ``needles`` is tried only on text holding one of them (each needle is looked for once
    per text, not once per pattern that has it)."""

    patterns: tuple[CompiledPattern, ...]
    always: frozenset[int]  # patterns without needles
    needles: tuple[tuple[str, frozenset[int]], ...]  # each needle, the patterns it opens

    def candidates(self, lowered: str) -> frozenset[int]:
        out = self.always
        for needle, opens in self.needles:
            if needle in lowered:
                out = out | opens
        return out


@lru_cache(maxsize=16)
def _pattern_set(extra: tuple[CompiledPattern, ...]) -> _PatternSet:
    patterns = (*default_patterns(), *extra)
    opens: dict[str, set[int]] = {}
    for index, pattern in enumerate(patterns):
        for needle in pattern.needles:
            opens.setdefault(needle, set()).add(index)
    return _PatternSet(
        patterns,
        frozenset(i for i, p in enumerate(patterns) if not p.needles),
        tuple((needle, frozenset(indexes)) for needle, indexes in opens.items()),
    )


def _hidden_texts(text: str) -> Iterator[tuple[str, str]]:
    """Text a reader of the rendered message would not see."""
    if "<!--" in text or "[//]" in text:
        for match in _COMMENT.finditer(text):
            yield "comment", match.group(1) or match.group(2) or ""
    for match in _BASE64.finditer(text):
        decoded = _decode_base64(match.group(0))
        if decoded:
            yield "base64", decoded
    if text and max(text) >= "\U000e0000":
        for match in _TAGS.finditer(text):
            yield "tags", "".join(chr(ord(c) - 0xE0000) for c in match.group(0))


def _decode_base64(blob: str) -> str:
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return ""
    printable = sum(c.isprintable() or c.isspace() for c in decoded)
    return decoded if decoded and printable / len(decoded) > 0.9 else ""


class GuardStage:
    """Blocks what must not reach a model; flags what is suspicious."""

    name = "guard"

    def prepare(self, contexts: list[ReplyContext], config: StaffConfig) -> None:
        patterns = _pattern_set(config.guard_patterns)  # once for the burst
        for context in contexts:
            began = time.perf_counter()
            verdict = _assess(context.question, patterns)
            detail: dict[str, object] = {"score": verdict.score}
            if verdict.matches:
                detail["matches"] = list(verdict.matches)
            if verdict.reason:
                detail["reason"] = verdict.reason
            context.run.step(self.name, began, verdict.decision, detail)
            context.flagged = verdict.decision == "flag"
            if verdict.decision == "block":
                context.ready = ReadyAnswer(REFUSAL, answered_by="guard")

    async def answer(self, context: ReplyContext) -> None:
        return None
