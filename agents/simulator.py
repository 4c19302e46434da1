"""OpenAI-compatible LLM simulator: a tiny, cheap HTTP/1.1 server on plain asyncio.

Orion talks to "the model" through the OpenAI API. In development, in the test suite and in
the load benchmark that model is this simulator: it streams deterministic English-looking text
on an exact schedule (time to first token, then a fixed number of tokens per second), so the
rest of the stack can be measured without a GPU and without paying anyone.

Why hand-written HTTP instead of a framework: the benchmark pushes 100-300 concurrent streams
at 50 tokens/s through it on a 2-core machine, and every microsecond spent here is stolen from
the app being measured. Per token the server does one timer callback, one bytes format and one
``transport.write``; the JSON around the token is pre-built once per request.

Endpoints
    POST /v1/chat/completions   chat completions, streaming (SSE over chunked encoding) or not
    GET  /v1/models             lists the configured model (``orion-sim-1`` by default)
    GET  /v1/models/{id}        any model id is "available" and echoed back
    POST /v1/embeddings         deterministic unit vectors (64 dims unless ``dimensions``)
    GET  /sim/stats             {"requests", "streams", "tokens", "lateness_ms": {p50,p95,p99,max}}
                                plus "connections", "active_streams", "errors", "drops";
                                "tokens" counts streamed content tokens (the ones with lateness)
    POST /sim/stats/reset       clears the counters and the lateness histogram
The ``/v1`` prefix is optional. Any model name is accepted and echoed back in responses.

Schedule
    Token ``i`` (0-based) of a streamed reply is written at the absolute time
    ``t0 + ttft + i / tokens_per_sec`` where ``t0`` is when the request body was fully read.
    "Lateness" is how far after its due time each token was actually written; /sim/stats
    reports its percentiles so a benchmark can prove the simulator was not the bottleneck.
    A non-streamed reply is sent when its last token would have been.

Magic markers (in the LAST user message; they combine, e.g. ``[sim:tokens=5][sim:slow]``)
    ``[sim:error]``     answer HTTP 500 with an OpenAI-style error body
    ``[sim:drop=N]``    close the connection abruptly after N content tokens (no finish, no
                        ``[DONE]``, no chunked terminator)
    ``[sim:tokens=N]``  the reply has N tokens (``max_tokens`` still caps it)
    ``[sim:ttft=MS]``   time to first token of MS milliseconds
    ``[sim:slow]``      5 tokens per second

Replies
    ``simulated_reply(messages, n)`` is the pure function behind every reply, so tests can
    compute the exact expected text. If the first message is a system message starting with
    "Write a short title", the reply is instead a 2-6 word title made from the last user
    message. ``usage.completion_tokens`` is the number of tokens sent and
    ``usage.prompt_tokens`` the number of whitespace-separated words in all messages (>= 1).

Running it
    ``python manage.py llm_simulator --port 8001`` (see that command for flags), or from code::

        with run_in_thread(SimulatorConfig(port=0, ttft_ms=5, tokens_per_sec=500)) as sim:
            client = openai.OpenAI(base_url=sim.base_url, api_key="test")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import math
import random
import re
import signal
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

__all__ = [
    "DEFAULT_MODEL",
    "LLMSimulator",
    "SimStats",
    "SimulatorConfig",
    "SimulatorThread",
    "run_in_thread",
    "run_until_stopped",
    "serve",
    "simulated_embedding",
    "simulated_reply",
]

# Chat messages as plain dicts or the SDK's TypedDicts (hence Mapping, not dict).
Messages = Sequence[Mapping[str, Any]]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "orion-sim-1"
EMBEDDING_DIMS = 64
SLOW_TOKENS_PER_SEC = 5.0
TITLE_PROMPT_PREFIX = "Write a short title"

MAX_BODY_BYTES = 32 * 1024 * 1024
# A token may be written this much before its due time: asyncio wakes timers up to one
# clock resolution early and re-arming a timer for a few microseconds costs a loop iteration.
EARLY_TOLERANCE_S = 0.0001


@dataclass
class SimulatorConfig:
    """Everything the simulator can be told; the management command maps flags onto it."""

    host: str = "127.0.0.1"
    port: int = 8001  # 0 picks a free port; read it back from the simulator / thread
    ttft_ms: float = 200.0
    tokens_per_sec: float = 50.0
    reply_tokens: int = 60
    error_rate: float = 0.0  # fraction of chat completions answered with HTTP 500
    drop_after: int | None = None  # close streams abruptly after this many content tokens
    api_key: str | None = None  # None accepts any (or no) bearer key
    seed: int = 0  # drives error_rate decisions only; replies depend on the messages alone
    model: str = DEFAULT_MODEL

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0.0 and 1.0")
        if self.tokens_per_sec <= 0:
            raise ValueError("tokens_per_sec must be positive")
        if self.ttft_ms < 0:
            raise ValueError("ttft_ms must not be negative")
        if self.reply_tokens < 0:
            raise ValueError("reply_tokens must not be negative")
        if self.drop_after is not None and self.drop_after < 0:
            raise ValueError("drop_after must not be negative")


# --------------------------------------------------------------------------------------------
# Deterministic text
# --------------------------------------------------------------------------------------------

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

_MARKER_RE = re.compile(r"\[sim:(error|slow|drop=(\d+)|tokens=(\d+)|ttft=(\d+(?:\.\d+)?))\]")
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


def _last_user_text(messages: Messages) -> str:
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
    text = _MARKER_RE.sub(" ", text)
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
    cuts a reply. Title requests (see module docstring) yield the title, at most
    ``n_tokens`` words of it.
    """
    return list(_reply_tokens(messages, n_tokens))


def _reply_length(messages: Messages, n_tokens: int) -> int:
    """``len(simulated_reply(messages, n_tokens))`` without writing the reply."""
    if n_tokens <= 0:
        return 0
    if is_title_request(messages):
        return len(_title_words(_last_user_text(messages))[:n_tokens])
    return n_tokens


def _reply_tokens(messages: Messages, n_tokens: int) -> Iterator[str]:
    """``simulated_reply`` written lazily, a sentence at a time.

    A burst of requests must not wait while whole replies are written up front: that
    would delay the next request's intake, a lateness the token schedule cannot see.
    """
    if n_tokens <= 0:
        return
    if is_title_request(messages):
        words: Iterable[str] = _title_words(_last_user_text(messages))[:n_tokens]
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


@dataclass
class _Overrides:
    error: bool = False
    slow: bool = False
    drop: int | None = None
    tokens: int | None = None
    ttft_ms: float | None = None


def parse_markers(text: str) -> _Overrides:
    """Collect the ``[sim:...]`` markers found in ``text`` (see module docstring)."""
    found = _Overrides()
    for match in _MARKER_RE.finditer(text):
        kind = match.group(1)
        if kind == "error":
            found.error = True
        elif kind == "slow":
            found.slow = True
        elif match.group(2) is not None:
            found.drop = int(match.group(2))
        elif match.group(3) is not None:
            found.tokens = int(match.group(3))
        elif match.group(4) is not None:
            found.ttft_ms = float(match.group(4))
    return found


# --------------------------------------------------------------------------------------------
# Timing statistics
# --------------------------------------------------------------------------------------------


class SimStats:
    """Counters plus a fixed-size lateness histogram.

    A histogram (0.1 ms bins up to 10 s) keeps recording O(1) and memory bounded however
    long a benchmark runs; percentiles are therefore accurate to 0.1 ms, the max is exact.
    """

    BIN_MS = 0.1
    BINS = 100_000

    def __init__(self) -> None:
        self.active_streams = 0  # a gauge, deliberately not cleared by reset()
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.connections = 0
        self.streams = 0
        self.tokens = 0
        self.errors = 0
        self.drops = 0
        self._hist = [0] * self.BINS
        self._late_count = 0
        self._late_max_s = 0.0

    def record_lateness(self, seconds: float) -> None:
        """Record one token written ``seconds`` after its due time."""
        if seconds < 0.0:
            seconds = 0.0
        index = int(seconds * 10_000.0)  # 0.1 ms bins
        self._hist[index if index < self.BINS else self.BINS - 1] += 1
        self._late_count += 1
        if seconds > self._late_max_s:
            self._late_max_s = seconds

    def _percentile_ms(self, cumulative: list[int], fraction: float) -> float:
        rank = max(1, math.ceil(fraction * self._late_count))
        # First bin whose cumulative count reaches the rank; report its upper edge (a
        # conservative bound), never above the exact max.
        lo, hi = 0, len(cumulative) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cumulative[mid] >= rank:
                hi = mid
            else:
                lo = mid + 1
        return min((lo + 1) * self.BIN_MS, self._late_max_s * 1000.0)

    def snapshot(self) -> dict[str, Any]:
        """The /sim/stats document."""
        if self._late_count:
            cumulative = list(itertools.accumulate(self._hist))
            lateness = {
                name: round(self._percentile_ms(cumulative, fraction), 3)
                for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
            }
            lateness["max"] = round(self._late_max_s * 1000.0, 3)
        else:
            lateness = {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
        return {
            "requests": self.requests,
            "streams": self.streams,
            "tokens": self.tokens,
            "lateness_ms": lateness,
            "connections": self.connections,
            "active_streams": self.active_streams,
            "errors": self.errors,
            "drops": self.drops,
        }


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
}


class _HttpError(Exception):
    """A request so broken that we answer it and then close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    received_at: float  # loop.time() when the body was fully read: t0 of the schedule


def _error_body(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


# JSON-escaped token bytes. Vocabulary words repeat across every stream, so escaping each
# one once per process keeps json.dumps off the per-token path. Bounded because title words
# come from user text.
_ESCAPED: dict[str, bytes] = {}
_ESCAPED_LIMIT = 20_000


def _escaped(token: str) -> bytes:
    cached = _ESCAPED.get(token)
    if cached is None:
        cached = json.dumps(token).encode()
        if len(_ESCAPED) < _ESCAPED_LIMIT:
            _ESCAPED[token] = cached
    return cached


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunked-encoding frame."""
    return b"%x\r\n%b\r\n" % (len(data), data)


_CHUNKED_END = b"0\r\n\r\n"
_DONE_EVENT = _chunk(b"data: [DONE]\n\n")


class _TokenStream:
    """The state of one streamed reply; the ``_Pacer`` calls ``emit`` when tokens are due.

    A coroutine sleeping per token would cost a Future, a Task step and two loop handles for
    every token. Here a token costs a heap push/pop of a plain tuple, one bytes format and one
    write. Tokens that are due together (high rates, or a late wake-up) share one write.
    """

    __slots__ = (
        "_loop", "_transport", "_stats", "_prefix", "_suffix", "_fixed_len", "_tokens", "_count",
        "t_first", "_interval", "_drop_at", "_tail", "_index", "done",
    )  # fmt: skip

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.BaseTransport,
        stats: SimStats,
        prefix: bytes,
        suffix: bytes,
        tokens: Iterator[str],
        count: int,
        t_first: float,
        interval: float,
        drop_at: int | None,
        tail: bytes,
    ) -> None:
        self._loop = loop
        self._transport = transport
        self._stats = stats
        self._prefix = prefix
        self._suffix = suffix
        self._fixed_len = len(prefix) + len(suffix)
        self._tokens = tokens
        self._count = count
        self.t_first = t_first
        self._interval = interval
        self._drop_at = drop_at
        self._tail = tail
        self._index = 0
        # Result: "done" (finished normally), "dropped" (simulated failure), "gone" (client
        # went away or shutdown), so the handler knows whether the connection may be reused.
        self.done: asyncio.Future[str] = loop.create_future()

    def cancel(self) -> None:
        """Stop writing; the pacer forgets the stream the next time it comes due."""
        if not self.done.done():
            self.done.set_result("gone")

    def emit(self) -> float | None:
        """Write every token due by now; return when the next one is due, None when over."""
        if self.done.done():
            return None
        transport = self._transport
        if transport.is_closing():  # client hung up; stop spending time on it
            self.done.set_result("gone")
            return None
        # Read the clock per stream, not once per pacer wake-up: earlier streams' writes in
        # the same wake-up take time, and lateness must include it.
        now = self._loop.time()
        horizon = now + EARLY_TOLERANCE_S
        tokens = self._tokens
        count = self._count
        index = self._index
        drop_at = self._drop_at
        parts: list[bytes] = []
        stats = self._stats
        while index < count and index != drop_at:
            due = self.t_first + index * self._interval  # absolute: no drift accumulates
            if due > horizon:
                break
            token = _escaped(next(tokens))
            parts.append(
                b"%x\r\n%b%b%b\r\n"
                % (self._fixed_len + len(token), self._prefix, token, self._suffix)
            )
            stats.record_lateness(now - due)
            index += 1
        stats.tokens += index - self._index
        self._index = index
        if index == drop_at:
            if parts:
                transport.write(b"".join(parts))  # type: ignore[attr-defined]
            # close() (not abort()) flushes the tokens already promised, then sends FIN with
            # the chunked body unfinished: exactly what a crashed upstream looks like.
            transport.close()
            stats.drops += 1
            self.done.set_result("dropped")
            return None
        if index >= count:
            parts.append(self._tail)
            transport.write(b"".join(parts))  # type: ignore[attr-defined]
            self.done.set_result("done")
            return None
        if parts:
            transport.write(b"".join(parts))  # type: ignore[attr-defined]
        return self.t_first + index * self._interval


class _Pacer:
    """Drives every stream of a simulator from a single loop timer.

    asyncio's own timer heap holds TimerHandles compared by a Python-level ``__lt__``, and
    every ``call_at`` allocates two objects; with thousands of tokens per second that
    bookkeeping cost more than writing the tokens. Here the heap holds ``(due, seq, stream)``
    tuples (compared in C) and the loop only ever knows about the earliest one.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, _TokenStream]] = []
        self._seq = itertools.count()  # tie-breaker so streams themselves are never compared
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = math.inf

    def add(self, stream: _TokenStream) -> None:
        # Even an empty reply (or a drop at 0) waits for the time to first token.
        heapq.heappush(self._heap, (stream.t_first, next(self._seq), stream))
        if stream.t_first < self._timer_due:
            self._arm(stream.t_first)

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(due, self._fire)
        self._timer_due = due

    def _fire(self) -> None:
        self._timer = None
        self._timer_due = math.inf
        heap = self._heap
        horizon = self._loop.time() + EARLY_TOLERANCE_S
        while heap and heap[0][0] <= horizon:
            stream = heapq.heappop(heap)[2]
            try:
                next_due = stream.emit()
            except Exception:  # one broken stream must not stall every other one
                logger.exception("LLM simulator stream failed")
                stream.cancel()
                continue
            if next_due is not None:
                heapq.heappush(heap, (next_due, next(self._seq), stream))
        if heap:
            self._arm(heap[0][0])


class LLMSimulator:
    """The simulator server. ``await start()``, then ``await close()``."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.stats = SimStats()
        self._error_rng = random.Random(self.config.seed)  # noqa: S311
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._pacer_instance: _Pacer | None = None
        self.port: int = self.config.port

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> asyncio.Server:
        """Listen; with ``port=0`` the chosen port is then in ``self.port``."""
        self._server = await asyncio.start_server(
            self._handle_connection,
            self.config.host,
            self.config.port,
            # The default backlog of 100 overflows when a benchmark opens hundreds of
            # connections at once, and an overflowed SYN is retried a whole second later.
            backlog=4096,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self._server

    async def close(self) -> None:
        """Stop listening and drop every connection, including idle keep-alive ones."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _pacer(self, loop: asyncio.AbstractEventLoop) -> _Pacer:
        # Created lazily: the simulator object may be built outside the loop it serves on.
        if self._pacer_instance is None:
            self._pacer_instance = _Pacer(loop)
        return self._pacer_instance

    @property
    def base_url(self) -> str:
        """OpenAI ``base_url`` for clients, e.g. ``http://127.0.0.1:8001/v1``."""
        return f"{_client_host(self.config.host)}:{self.port}/v1"

    # -- connection loop ---------------------------------------------------------------------

    async def _handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        self.stats.connections += 1
        try:
            while True:
                try:
                    request = await self._read_request(reader, writer)
                except _HttpError as exc:
                    self._send_json(
                        writer,
                        exc.status,
                        _error_body(exc.message, "invalid_request_error", "bad_request"),
                        keep_alive=False,
                    )
                    break
                if request is None:
                    break
                keep_alive = await self._dispatch(request, writer)
                if not keep_alive or writer.transport.is_closing():
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-request; nothing to answer
        except asyncio.CancelledError:
            # close() cancels us on shutdown. Ending normally matters on Python 3.11, whose
            # StreamReaderProtocol callback calls task.exception() and would log a traceback.
            if not self._closing:
                raise
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise _HttpError(400, "Incomplete request head.") from None
            return None  # clean close between requests
        except asyncio.LimitOverrunError:
            raise _HttpError(431, "Request head too large.") from None
        lines = head[:-4].decode("latin-1").split("\r\n")
        while lines and not lines[0]:  # tolerate stray CRLFs between requests (RFC 9112)
            lines.pop(0)
        parts = lines[0].split(" ") if lines else []
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _HttpError(400, "Malformed request line.")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _HttpError(400, "Malformed header line.")
            headers[name.strip().lower()] = value.strip()

        if headers.get("expect", "").lower() == "100-continue":
            # The SDK never sends it, but curl does for large bodies and would stall a second.
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")

        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked(reader)
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise _HttpError(400, "Invalid Content-Length.") from None
            if length < 0:
                raise _HttpError(400, "Invalid Content-Length.")
            if length > MAX_BODY_BYTES:
                raise _HttpError(413, "Request body too large.")
            body = await reader.readexactly(length) if length else b""

        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            keep_alive = "keep-alive" in connection
        else:
            keep_alive = "close" not in connection
        return _Request(
            method=method.upper(),
            path=target.split("?", 1)[0],
            headers=headers,
            body=body,
            keep_alive=keep_alive,
            received_at=asyncio.get_running_loop().time(),
        )

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _HttpError(400, "Invalid chunk size.") from None
            if size == 0:
                # Skip trailers up to the blank line.
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise _HttpError(413, "Request body too large.")
            body += await reader.readexactly(size)
            await reader.readexactly(2)  # CRLF after each chunk

    # -- responses ---------------------------------------------------------------------------

    def _send_json(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        payload: Any,
        *,
        keep_alive: bool,
    ) -> None:
        body = _dumps(payload)
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
            "\r\n"
        )
        writer.write(head.encode("latin-1") + body)

    async def _dispatch(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; return whether the connection may serve another one."""
        path = request.path.rstrip("/") or "/"
        method = request.method
        keep_alive = request.keep_alive

        if path.startswith("/sim/"):
            if path == "/sim/stats" and method == "GET":
                self._send_json(writer, 200, self.stats.snapshot(), keep_alive=keep_alive)
            elif path == "/sim/stats/reset" and method == "POST":
                self.stats.reset()
                self._send_json(writer, 200, {"reset": True}, keep_alive=keep_alive)
            else:
                self._not_found(writer, request)
            return keep_alive

        self.stats.requests += 1
        route = path[3:] if path.startswith("/v1/") else path
        handlers = {
            "/chat/completions": ("POST", self._chat_completions),
            "/embeddings": ("POST", self._embeddings),
            "/models": ("GET", self._models),
        }
        entry = handlers.get(route)
        if entry is None and route.startswith("/models/"):
            entry = ("GET", self._model)
        if entry is None:
            self._not_found(writer, request)
            return keep_alive
        if method != entry[0]:
            self._send_json(
                writer,
                405,
                _error_body(
                    f"Method {method} not allowed on {request.path}.",
                    "invalid_request_error",
                    "method_not_allowed",
                ),
                keep_alive=keep_alive,
            )
            return keep_alive
        if not self._authorized(request):
            self._send_json(
                writer,
                401,
                _error_body(
                    "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
                ),
                keep_alive=keep_alive,
            )
            return keep_alive
        return await entry[1](request, writer)

    def _not_found(self, writer: asyncio.StreamWriter, request: _Request) -> None:
        self._send_json(
            writer,
            404,
            _error_body(
                f"Unknown path {request.method} {request.path}.",
                "invalid_request_error",
                "not_found",
            ),
            keep_alive=request.keep_alive,
        )

    def _authorized(self, request: _Request) -> bool:
        if self.config.api_key is None:
            return True
        supplied = request.headers.get("authorization", "")
        return hmac.compare_digest(supplied.encode(), f"Bearer {self.config.api_key}".encode())

    def _parse_json_body(
        self, request: _Request, writer: asyncio.StreamWriter
    ) -> dict[str, Any] | None:
        """The JSON object body, or None after answering 400."""
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            self._send_json(
                writer,
                400,
                _error_body(
                    f"We could not parse the JSON body of your request: {exc}",
                    "invalid_request_error",
                    "invalid_json",
                ),
                keep_alive=request.keep_alive,
            )
            return None
        if not isinstance(payload, dict):
            self._bad_request(writer, request, "The request body must be a JSON object.")
            return None
        return payload

    def _bad_request(self, writer: asyncio.StreamWriter, request: _Request, message: str) -> None:
        self._send_json(
            writer,
            400,
            _error_body(message, "invalid_request_error", "invalid_request"),
            keep_alive=request.keep_alive,
        )

    # -- endpoints ---------------------------------------------------------------------------

    async def _models(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        payload = {"object": "list", "data": [_model_object(self.config.model)]}
        self._send_json(writer, 200, payload, keep_alive=request.keep_alive)
        return request.keep_alive

    async def _model(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        model_id = request.path.rstrip("/").split("/models/", 1)[1]
        self._send_json(writer, 200, _model_object(model_id), keep_alive=request.keep_alive)
        return request.keep_alive

    async def _embeddings(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        payload = self._parse_json_body(request, writer)
        if payload is None:
            return request.keep_alive
        texts = _embedding_inputs(payload.get("input"))
        if texts is None:
            self._bad_request(
                writer, request, "'input' must be a string, a list of strings or token arrays."
            )
            return request.keep_alive
        dims = payload.get("dimensions", EMBEDDING_DIMS)
        if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= 4096:
            self._bad_request(writer, request, "'dimensions' must be an integer in 1..4096.")
            return request.keep_alive
        as_base64 = payload.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = simulated_embedding(text, dims)
            encoded: Any = (
                base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(max(1, len(text.split())) for text in texts)
        response = {
            "object": "list",
            "data": data,
            "model": _model_name(payload, self.config.model),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        self._send_json(writer, 200, response, keep_alive=request.keep_alive)
        return request.keep_alive

    async def _chat_completions(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        keep_alive = request.keep_alive
        payload = self._parse_json_body(request, writer)
        if payload is None:
            return keep_alive
        messages = payload.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, dict) for m in messages)
        ):
            self._bad_request(writer, request, "'messages' must be a non-empty list of objects.")
            return keep_alive
        max_tokens = payload.get("max_completion_tokens")
        if max_tokens is None:  # the newer name wins; older clients send max_tokens
            max_tokens = payload.get("max_tokens")
        if max_tokens is not None and (
            not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0
        ):
            self._bad_request(writer, request, "'max_tokens' must be a non-negative integer.")
            return keep_alive

        config = self.config
        overrides = parse_markers(_last_user_text(messages))
        # Only draw from the seeded RNG when error_rate is on, so the sequence of injected
        # errors depends on the seed and the request order alone.
        if overrides.error or (
            config.error_rate > 0.0 and self._error_rng.random() < config.error_rate
        ):
            self.stats.errors += 1
            self._send_json(
                writer,
                500,
                _error_body(
                    "The simulator injected a server error.", "server_error", "simulated_error"
                ),
                keep_alive=keep_alive,
            )
            return keep_alive

        planned = overrides.tokens if overrides.tokens is not None else config.reply_tokens
        count = _reply_length(messages, planned)
        finish_reason = "stop"
        if max_tokens is not None and max_tokens < count:
            count = max_tokens
            finish_reason = "length"
        tokens = _reply_tokens(messages, count)
        ttft_s = (overrides.ttft_ms if overrides.ttft_ms is not None else config.ttft_ms) / 1000
        tps = SLOW_TOKENS_PER_SEC if overrides.slow else config.tokens_per_sec
        drop = overrides.drop if overrides.drop is not None else config.drop_after
        if drop is not None and drop >= count:
            drop = None  # the reply ends before the failure would have happened
        model = _model_name(payload, config.model)
        usage = {
            "prompt_tokens": count_prompt_tokens(messages),
            "completion_tokens": count,
            "total_tokens": 0,
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        t_first = request.received_at + ttft_s
        interval = 1.0 / tps

        if payload.get("stream"):
            stream_options = payload.get("stream_options")
            include_usage = isinstance(stream_options, dict) and bool(
                stream_options.get("include_usage")
            )
            return await self._stream(
                writer,
                request,
                model=model,
                tokens=tokens,
                count=count,
                finish_reason=finish_reason,
                usage=usage if include_usage else None,
                t_first=t_first,
                interval=interval,
                drop=drop,
            )

        loop = asyncio.get_running_loop()
        if drop is not None:
            # Non-streamed drop: the upstream dies while "generating"; the client sees the
            # connection close without any response.
            due = t_first + max(0, drop - 1) * interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.transport.abort()
            self.stats.drops += 1
            return False
        due = t_first + max(0, count - 1) * interval
        await asyncio.sleep(max(0.0, due - loop.time()))
        response = {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_orion_sim",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(tokens), "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage,
        }
        self._send_json(writer, 200, response, keep_alive=keep_alive)
        return keep_alive

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        request: _Request,
        *,
        model: str,
        tokens: Iterator[str],
        count: int,
        finish_reason: str,
        usage: dict[str, int] | None,
        t_first: float,
        interval: float,
        drop: int | None,
    ) -> bool:
        # Everything around the token is the same for the whole reply: build it once.
        head = (
            f'{{"id":"{_completion_id()}","object":"chat.completion.chunk",'
            f'"created":{int(time.time())},"model":{json.dumps(model)},'
            '"system_fingerprint":"fp_orion_sim","choices":'
        ).encode()
        choice_open = b'[{"index":0,"delta":'
        choice_close = b',"logprobs":null,"finish_reason":%b}]}\n\n'
        prefix = b"data: " + head + choice_open + b'{"content":'
        suffix = b"}" + choice_close % b"null"
        role_event = _chunk(
            b"data: " + head + choice_open + b'{"role":"assistant","content":""}'
            + choice_close % b"null"
        )  # fmt: skip
        tail = [
            _chunk(
                b"data: " + head + choice_open + b"{}"
                + choice_close % json.dumps(finish_reason).encode()
            )
        ]  # fmt: skip
        if usage is not None:
            tail.append(_chunk(b"data: " + head + b'[],"usage":' + _dumps(usage) + b"}\n\n"))
        tail += [_DONE_EVENT, _CHUNKED_END]

        keep_alive = request.keep_alive
        writer.write(
            b"HTTP/1.1 200 OK\r\n"
            b"Content-Type: text/event-stream; charset=utf-8\r\n"
            b"Cache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n"
            + (b"Connection: keep-alive\r\n" if keep_alive else b"Connection: close\r\n")
            + b"\r\n"
            + role_event
        )
        loop = asyncio.get_running_loop()
        stream = _TokenStream(
            loop,
            writer.transport,
            self.stats,
            prefix,
            suffix,
            tokens,
            count,
            t_first,
            interval,
            drop,
            b"".join(tail),
        )
        self.stats.streams += 1
        self.stats.active_streams += 1
        try:
            self._pacer(loop).add(stream)
            outcome = await stream.done
        finally:
            stream.cancel()  # no-op unless we were cancelled (server shutdown)
            self.stats.active_streams -= 1
        return keep_alive and outcome == "done"


def _client_host(host: str) -> str:
    """``http://host`` that a client on this machine can connect to."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - mapping a wildcard bind to loopback
        return "http://127.0.0.1"
    if host == "::":
        return "http://[::1]"
    if ":" in host:
        return f"http://[{host}]"
    return f"http://{host}"


def _model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "orion-sim"}


def _model_name(payload: dict[str, Any], default: str) -> str:
    model = payload.get("model")
    return model if isinstance(model, str) and model else default


def _completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def _embedding_inputs(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return list(value)
        if all(isinstance(v, int) for v in value):  # one pre-tokenised input
            return [" ".join(map(str, value))]
        if all(isinstance(v, list) and all(isinstance(t, int) for t in v) for v in value):
            return [" ".join(map(str, v)) for v in value]
    return None


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


async def serve(config: SimulatorConfig | None = None) -> asyncio.Server:
    """Start a simulator on the running loop and return its listening server.

    For access to stats and a shutdown that also closes keep-alive connections, use
    ``LLMSimulator`` directly.
    """
    return await LLMSimulator(config).start()


async def run_until_stopped(
    config: SimulatorConfig,
    *,
    ready: Callable[[LLMSimulator], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set), then shut down cleanly."""
    simulator = LLMSimulator(config)
    await simulator.start()
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Signal handlers only work in the main thread (and not on Windows); elsewhere the
        # caller stops us through ``stop``.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        if ready is not None:
            ready(simulator)
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await simulator.close()


class SimulatorThread:
    """A simulator on its own event loop in a daemon thread; a context manager.

    Example::

        with run_in_thread(SimulatorConfig(port=0, ttft_ms=5)) as sim:
            sim.base_url  # "http://127.0.0.1:PORT/v1"
            sim.stats()  # same document as GET /sim/stats
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig(port=0)
        self.simulator: LLMSimulator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> SimulatorThread:
        """Start serving (idempotent) and block until the port is bound."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="llm-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("LLM simulator did not start within 10 s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"LLM simulator failed to start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        simulator = LLMSimulator(self.config)
        try:
            loop.run_until_complete(simulator.start())
        except BaseException as exc:  # reported to start(), which raises it in the caller
            self._error = exc
            loop.close()
            self._ready.set()
            return
        self.simulator = simulator
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(simulator.close())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Shut the server down, closing all connections, and join the thread."""
        if self._thread is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def _call(self, func: Callable[[], Any]) -> Any:
        """Run ``func`` on the simulator's loop (its state is not thread-safe) and return."""
        if self._loop is None:
            raise RuntimeError("simulator is not running")

        async def call() -> Any:
            return func()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    @property
    def port(self) -> int:
        if self.simulator is None:
            raise RuntimeError("simulator is not running")
        return self.simulator.port

    @property
    def url(self) -> str:
        """Root URL without ``/v1``, e.g. for ``/sim/stats``."""
        return f"{_client_host(self.config.host)}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI ``base_url``: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    def stats(self) -> dict[str, Any]:
        """Same document as ``GET /sim/stats``."""
        simulator = self.simulator
        if simulator is None:
            raise RuntimeError("simulator is not running")
        return self._call(simulator.stats.snapshot)

    def reset_stats(self) -> None:
        """Same as ``POST /sim/stats/reset``."""
        simulator = self.simulator
        if simulator is None:
            raise RuntimeError("simulator is not running")
        self._call(simulator.stats.reset)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_in_thread(config: SimulatorConfig | None = None) -> SimulatorThread:
    """Start a simulator in a background thread; use as ``with run_in_thread(cfg) as sim:``.

    ``config`` defaults to a free port (``port=0``) with the default schedule.
    """
    return SimulatorThread(config).start()
