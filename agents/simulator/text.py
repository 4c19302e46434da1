"""Deterministic text: the replies, titles and embeddings the simulator gives.

Each is a pure function of its input, so a test can compute the exact reply it will get
(``simulated_reply``) and the reply never depends on timing, order or process.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from agents.simulator.script import MARKER_RE

# Chat messages as plain dicts or the SDK's TypedDicts (hence Mapping, not dict).
Messages = Sequence[Mapping[str, Any]]

EMBEDDING_DIMS = 64
# A conversation whose first (system) message starts with this asks for a title.
TITLE_PROMPT_PREFIX = "Write a short title"

# A tiny grammar (determiner, adjective, noun, past-tense verb) reads far more like English
# than random words do, and past tense sidesteps subject-verb agreement entirely.
_DETERMINERS = ("the", "the", "the", "a", "a", "this", "that", "every", "one")
_ADJECTIVES = (
    "quiet", "bright", "careful", "small", "ancient", "steady", "curious", "gentle", "modern",
    "simple", "clever", "patient", "distant", "hidden", "early", "narrow", "silver", "warm",
    "open", "rapid", "calm", "solid", "vivid", "humble", "eager", "golden", "shared", "final",
    "elegant", "old", "busy", "tiny", "strange", "familiar", "careful", "northern", "wooden",
)  # fmt: skip
_NOUNS = (
    "engine", "river", "garden", "library", "teacher", "message", "signal", "window", "bridge",
    "market", "lantern", "village", "network", "server", "painter", "student", "harbor",
    "mountain", "letter", "kitchen", "journal", "planet", "engineer", "answer", "question",
    "pattern", "system", "model", "archive", "orchard", "island", "puzzle", "record", "theory",
    "forest", "machine", "report", "compass", "traveler", "melody", "storm", "castle", "map",
    "recipe", "notebook", "city", "experiment", "idea", "team", "story", "workshop", "station",
)  # fmt: skip
_VERBS = (
    "found", "built", "carried", "watched", "opened", "shared", "followed", "described",
    "repaired", "measured", "explored", "noticed", "painted", "answered", "collected",
    "improved", "checked", "planned", "remembered", "organized", "studied", "delivered",
    "tested", "balanced", "gathered", "crossed", "visited", "traced", "welcomed", "guided",
    "questioned", "rebuilt", "sketched", "explained", "protected", "discovered",
)  # fmt: skip
_PREPOSITIONS = (
    "near", "beyond", "behind", "under", "across", "inside", "along", "around", "beside", "with",
)  # fmt: skip
_CONJUNCTIONS = ("and", "but", "so", "while", "because")
_OPENERS = (
    ("Meanwhile",), ("Later",), ("Afterwards",), ("In", "the", "end"), ("By", "morning"),
    ("Of", "course"), ("Still",), ("Eventually",), ("For", "a", "while"), ("In", "practice"),
)  # fmt: skip

_TITLE_STOPWORD_TEXT = """
    a an the and or but so if then than to of in on at by for from with about into over under
    is are was were be been being am do does did doing have has had having can could should
    would will shall may might must i me my mine we us our you your he him his she her it its
    they them their this that these those what which who whom whose why how when where there
    here please tell explain give show help write make let lets let's just also very really
    some any all can't don't i'm i've it's what's how's hi hello hey thanks thank want need
    know like get got as up out not no yes
"""
_TITLE_STOPWORDS = frozenset(_TITLE_STOPWORD_TEXT.split())

_WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")
_EMBED_WORD_RE = re.compile(r"\w+")


def content_text(content: Any) -> str:
    """Plain text of a message ``content``: a string, a list of parts, or None (tool calls)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return " ".join(parts)
    return str(content)


def last_user_text(messages: Messages) -> str:
    """Text of the last user message, where the ``[sim:...]`` markers are read."""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def count_prompt_tokens(messages: Messages) -> int:
    """Whitespace-separated words across all message contents, at least 1."""
    words = sum(
        len(content_text(m.get("content")).split()) for m in messages if isinstance(m, Mapping)
    )
    return max(1, words)


def _messages_rng(messages: Messages) -> random.Random:
    # Hash a canonical form (role + text) so the reply depends on what was said, not on how
    # a client happened to serialise it (key order, content as string vs list of parts).
    digest = hashlib.sha256()
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        digest.update(str(message.get("role", "")).encode())
        digest.update(b"\x00")
        digest.update(content_text(message.get("content")).encode())
        digest.update(b"\x01")
    return random.Random(int.from_bytes(digest.digest()[:8], "big"))  # noqa: S311


def _noun_phrase(rng: random.Random) -> list[str]:
    words = [rng.choice(_DETERMINERS)]
    if rng.random() < 0.55:
        words.append(rng.choice(_ADJECTIVES))
    words.append(rng.choice(_NOUNS))
    if words[0] == "a" and words[1][0] in "aeiou":
        words[0] = "an"
    return words


def _clause(rng: random.Random) -> list[str]:
    words = _noun_phrase(rng) + [rng.choice(_VERBS)] + _noun_phrase(rng)
    if rng.random() < 0.35:
        words += [rng.choice(_PREPOSITIONS), *_noun_phrase(rng)]
    return words


def _sentence(rng: random.Random) -> list[str]:
    roll = rng.random()
    if roll < 0.2:
        opener = list(rng.choice(_OPENERS))
        opener[-1] += ","
        words = opener + _clause(rng)
    elif roll < 0.45:
        first = _clause(rng)
        first[-1] += ","
        words = first + [rng.choice(_CONJUNCTIONS)] + _clause(rng)
    else:
        words = _clause(rng)
    words[0] = words[0][0].upper() + words[0][1:]
    words[-1] += "!" if rng.random() < 0.06 else "."
    return words


def _title_words(text: str) -> list[str]:
    text = MARKER_RE.sub(" ", text)
    words = [w.strip("'-") for w in _WORD_RE.findall(text)]
    picked = [w for w in words if w and w.lower() not in _TITLE_STOPWORDS][:5]
    if not picked:
        picked = ["New", "Conversation"]
    elif len(picked) == 1:
        picked.append("Notes")
    # Upper-case only the first letter so acronyms ("API", "SQL") survive title-casing.
    return [w[0].upper() + w[1:] for w in picked]


def is_title_request(messages: Messages) -> bool:
    """True when the conversation asks for a title (the app's title-generation prompt)."""
    if not messages or not isinstance(messages[0], Mapping):
        return False
    first = messages[0]
    return first.get("role") in ("system", "developer") and content_text(
        first.get("content")
    ).lstrip().startswith(TITLE_PROMPT_PREFIX)


def simulated_reply(messages: Messages, n_tokens: int) -> list[str]:
    """The reply the simulator gives to ``messages``, as tokens (``"".join`` for the text).

    Deterministic in the messages' roles and texts. Every token is one word, with its
    leading space except the first. Prefix-stable: ``simulated_reply(m, k)`` is the first
    ``k`` tokens of ``simulated_reply(m, n)`` for ``k <= n``, which is how ``max_tokens``
    cuts a reply. Title requests (``is_title_request``) yield a title of 2-5 words from
    the last user message, at most ``n_tokens`` words of it.
    """
    return list(reply_tokens(messages, n_tokens))


def reply_length(messages: Messages, n_tokens: int) -> int:
    """``len(simulated_reply(messages, n_tokens))`` without writing the reply."""
    if n_tokens <= 0:
        return 0
    if is_title_request(messages):
        return len(_title_words(last_user_text(messages))[:n_tokens])
    return n_tokens


def reply_tokens(messages: Messages, n_tokens: int) -> Iterator[str]:
    """``simulated_reply`` written lazily, a sentence at a time.

    A burst of requests must not wait while whole replies are written up front: that
    would delay the next request's intake, a lateness the token schedule cannot see.
    """
    if n_tokens <= 0:
        return
    if is_title_request(messages):
        words: Iterable[str] = _title_words(last_user_text(messages))[:n_tokens]
    else:
        words = _sentences(_messages_rng(messages))
    for index, word in enumerate(words):
        if index == n_tokens:
            return
        yield word if index == 0 else " " + word


def _sentences(rng: random.Random) -> Iterator[str]:
    while True:
        yield from _sentence(rng)


def simulated_embedding(text: str, dims: int = EMBEDDING_DIMS) -> list[float]:
    """Deterministic unit-length vector for ``text``: hashed bag of lower-cased words.

    Texts sharing words get similar vectors, which keeps retrieval-style tests meaningful.
    """
    vec = [0.0] * dims
    words = _EMBED_WORD_RE.findall(text.lower()) or [text]
    for word in words:
        h = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vec[int.from_bytes(h[0:3], "big") % dims] += 1.0 if h[3] & 1 else -1.0
        vec[int.from_bytes(h[4:7], "big") % dims] += 0.5 if h[7] & 1 else -0.5
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0.0:  # opposite-signed collisions cancelled out: fall back to one hashed axis
        h = hashlib.blake2b(text.encode(), digest_size=8).digest()
        vec[int.from_bytes(h, "big") % dims] = 1.0
        return vec
    return [x / norm for x in vec]
