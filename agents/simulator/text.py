"""Deterministic text: the replies, titles and embeddings the simulator gives.

Each is a pure function of its input, so a test can compute the exact reply it will get
(``simulated_reply``) and the reply never depends on timing, order or process.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import re
from collections.abc import Iterable, Iterator, Mapping

from agents.simulator.messages import Messages, content_text, last_user_text
from agents.simulator.prose import reply_words
from agents.simulator.script import MARKER_RE
from agents.simulator.tools import grounded_answer

EMBEDDING_DIMS = 64
# A conversation whose first (system) message starts with this asks for a title.
TITLE_PROMPT_PREFIX = "Write a short title"
# A system message line asking every reply to open with the same text.
_OPENING_RE = re.compile(r"^\s*Always begin your answer with:[ \t]*(\S.*?)\s*$", re.MULTILINE)

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
_PIECE_RE = re.compile(r"\s*\S+")  # a token of a fixed reply: a word and the space before
_EMBED_STOPWORD_TEXT = """
    a an the and or but if then so of in on at by for from with to into about as is are
    was were be been being it its this that these those i you he she we they me my your
    our their do does did have has had not no can will would should could how what which
    who when where why there here
"""
_EMBED_STOPWORDS = frozenset(_EMBED_STOPWORD_TEXT.split())


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
    the last user message, at most ``n_tokens`` words of it. A system line
    ``Always begin your answer with: <text>`` puts ``<text>`` first. Messages ending with
    an assistant message that starts the reply to the messages before it get the rest of
    that reply (``continued``): the two texts joined are the reply, to the character.
    A reply quoting tool results or a passage (``grounded_answer``) is that fixed text,
    its tokens keeping the whitespace before them, and ends where the text does; the
    server sends it whole unless ``[sim:tokens=N]`` or ``max_tokens`` cut it.
    """
    return list(sized_reply(messages, n_tokens)[1])


def reply_length(messages: Messages, n_tokens: int, *, whole: bool = False) -> int:
    """``len(simulated_reply(messages, n_tokens))`` without writing the reply; ``whole``
    as for ``sized_reply``."""
    return sized_reply(messages, n_tokens, whole=whole)[0]


def reply_tokens(messages: Messages, n_tokens: int) -> Iterator[str]:
    """``simulated_reply`` written lazily, a sentence at a time."""
    return sized_reply(messages, n_tokens)[1]


def sized_reply(
    messages: Messages, n_tokens: int, *, whole: bool = False
) -> tuple[int, Iterator[str]]:
    """``(count, tokens)``: the length of ``simulated_reply(messages, n_tokens)`` and its
    tokens, written lazily (the server's path: the conversation is read once for both).
    With ``whole``, a reply of fixed text (or the rest of one) counts in full, whatever
    ``n_tokens``: what the server does unless ``[sim:tokens=N]`` asks otherwise.

    Lazily, because a burst of requests must not wait while whole replies are written up
    front: that would delay the next request's intake, a lateness the token schedule
    cannot see.
    """
    tokens: Iterator[str]
    if n_tokens <= 0 and not whole:
        return 0, iter(())
    if is_title_request(messages):
        words = _title_words(last_user_text(messages))[: max(0, n_tokens)]
        count = len(words)
        tokens = (word if index == 0 else " " + word for index, word in enumerate(words))
    elif (continuation := continued(messages)) is not None:
        covered, rest = continuation
        fixed = _fixed_tokens(messages[:-1])
        total = _sent(fixed, n_tokens, whole)
        count = max(0, total - covered) + (1 if rest and covered <= total else 0)
        base = iter(fixed) if fixed is not None else _stream_tokens(messages[:-1])
        tokens = _resumed(base, covered, rest)
    else:
        fixed = _fixed_tokens(messages)
        count = max(0, _sent(fixed, n_tokens, whole))
        tokens = iter(fixed) if fixed is not None else _stream_tokens(messages)
    return count, itertools.islice(tokens, count)


def _sent(fixed: list[str] | None, n_tokens: int, whole: bool) -> int:
    """How many tokens of the full reply are sent: ``n_tokens`` of generated prose, all of
    a fixed text or at most ``n_tokens`` of it."""
    if fixed is None:
        return n_tokens
    return len(fixed) if whole else min(n_tokens, len(fixed))


def _resumed(tokens: Iterator[str], covered: int, rest: str) -> Iterator[str]:
    """``tokens`` after the first ``covered``, ``rest`` (of the last covered) first."""
    for _ in range(covered):
        next(tokens)
    if rest:
        yield rest
    yield from tokens


def continued(messages: Messages) -> tuple[int, str] | None:
    """For messages ending with an assistant message whose text starts the reply to the
    messages before it: how many of that reply's tokens it covers, and the rest of the
    last of them it shows only in part. None otherwise."""
    if len(messages) < 2 or not isinstance(messages[-1], Mapping):
        return None
    if messages[-1].get("role") != "assistant":
        return None
    partial = content_text(messages[-1].get("content"))
    base = messages[:-1]
    if not partial or is_title_request(base):
        return None
    text = ""
    for covered, token in enumerate(_full_reply(base), start=1):
        text += token
        if len(text) >= len(partial):
            return (covered, text[len(partial) :]) if text.startswith(partial) else None
        if not partial.startswith(text):
            return None
    return None  # a fixed reply, shorter than the text said to start it


def _full_reply(messages: Messages) -> Iterator[str]:
    """The whole reply to ``messages`` (not a title), token by token: a fixed text's
    tokens, or generated prose without end."""
    fixed = _fixed_tokens(messages)
    return iter(fixed) if fixed is not None else _stream_tokens(messages)


def _fixed_tokens(messages: Messages) -> list[str] | None:
    """The tokens of a reply of fixed text (``grounded_answer``, after any required
    opening), each with the whitespace before it; None for generated prose."""
    answer = grounded_answer(messages)
    if answer is None:
        return None
    if prefix := _required_opening(messages):
        answer = " ".join(prefix.split()) + " " + answer
    return _PIECE_RE.findall(answer.strip())


def _stream_tokens(messages: Messages) -> Iterator[str]:
    """The endless generated reply to ``messages`` (not a title), token by token."""
    words: Iterable[str] = reply_words(_messages_rng(messages), last_user_text(messages))
    if prefix := _required_opening(messages):
        words = itertools.chain(prefix.split(), words)
    for index, word in enumerate(words):
        yield word if index == 0 else " " + word


def _required_opening(messages: Messages) -> str:
    for message in messages:
        system = isinstance(message, Mapping) and message.get("role") in ("system", "developer")
        if system and (match := _OPENING_RE.search(content_text(message.get("content")))):
            return match.group(1).strip()
    return ""


def simulated_embedding(text: str, dims: int = EMBEDDING_DIMS) -> list[float]:
    """Deterministic unit-length vector for ``text``: a hashed bag of words.

    Each lower-cased, lightly stemmed word that is not a stop word adds ±1 to one of
    ``dims`` buckets (bucket and sign from a blake2b hash, stable across processes), and
    the sum is L2-normalised. Texts sharing words are close, which keeps retrieval tests
    meaningful. A text with no such words (or whose words cancel out) gets a fixed vector.
    """
    vec = [0.0] * dims
    for word in _embedding_words(text):
        h = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vec[int.from_bytes(h[:4], "big") % dims] += 1.0 if h[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0.0:
        return [1.0] + [0.0] * (dims - 1)
    return [x / norm for x in vec]


def _embedding_words(text: str) -> list[str]:
    """The words ``simulated_embedding`` hashes: lower-cased, stemmed, no stop words."""
    words = _EMBED_WORD_RE.findall(text.lower())
    return [_stem(word) for word in words if word not in _EMBED_STOPWORDS]


def _stem(word: str) -> str:
    # Just enough for "stops", "stopping" and "stopped" to meet "stop" ("replies": "reply").
    if len(word) <= 4:
        return word
    for suffix in ("ing", "ed"):
        if word.endswith(suffix):
            stem = word[: -len(suffix)]
            # "stopp" -> "stop", while "fall" and "pass" keep their double letter.
            doubled = len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz"
            return stem[:-1] if doubled else stem
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word
