"""CPU per streamed call and per token of the HTTP clients the app could stream a reply with.

    .venv/bin/python bench/sdk_cost.py [--streams 50] [--tokens 50] [--rounds 5]

Starts the project's LLM simulator (``manage.py llm_simulator``, 50 tokens/s, so each read
holds one token as with a real model) on a free port. Then, in this process, it runs
rounds of ``--streams`` concurrent streamed chat completions through each client below,
alternately with 1-token and ``--tokens``-token replies, and takes this process's CPU time
(``time.process_time``) over each round. Per token is the difference between a long and
a short round, divided by the extra tokens; per call is what a stream costs besides its
tokens (a 1-token round's CPU divided by the streams, less one token). Connections are
open before the timed rounds (one warm-up round each) and kept alive between rounds, as
they are in the app; the simulator's connection count checks that no timed round opened
new ones. Rounds are interleaved over the clients, so a change of machine speed hits them
alike; the medians over the rounds and their spread (lowest to highest) are printed.

Every client is written out here, so the comparison does not move with the app's code.
All of them send the same request (``stream_options.include_usage``, as the app asks):

- ``sdk``: ``openai.AsyncOpenAI`` on its own HTTP stack (httpx), ``stream=True``, typed
  chunks (what ``bench/run.py``'s baseline runs);
- ``sdk-aiohttp``: ``openai.AsyncOpenAI`` with ``http_client=openai.DefaultAioHttpClient()``,
  ``chat.completions.with_streaming_response.create(stream=True)``, the server-sent events
  read raw (``iter_bytes``) and parsed by ``SSEParser``;
- ``aiohttp``: a plain ``aiohttp.ClientSession`` POSTing to ``/chat/completions`` with the
  bearer header, reading the body with ``response.content.readany()`` into ``SSEParser``;
- ``aiohttp-trimmed``: the same with the headers set once on the session, a cookie jar
  that keeps nothing and no automatic ``User-Agent`` or ``Accept-Encoding`` headers;
- ``lean``: only if ``agents.transport`` can be imported (the transport of commit af80efc):
  ``httpx2.AsyncClient(transport=LeanTransport())``, the body read raw (``aiter_raw``)
  into ``SSEParser``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = str(BASE_DIR / ".venv" / "bin" / "python")
MODEL = "orion-sim-1"
QUESTION = "How do streamed replies cost CPU?"
POOL = 1000  # connections each client may keep: more than any round opens
KEEPALIVE_S = 600.0  # idle keep-alive: longer than the whole run (httpx's default is 5 s)

Stream = Callable[[int], Awaitable[int]]  # max_tokens -> characters of text received
Closer = Callable[[], Awaitable[None]]

_decode_json = json.JSONDecoder().raw_decode


class SSEParser:
    """The shared reader of a raw streamed body: server-sent events separated by a blank
    line, each ``data:`` payload a JSON chunk whose ``choices[].delta.content`` is text,
    until ``data: [DONE]``. A read may hold several events or part of one."""

    __slots__ = ("buffer", "done")

    def __init__(self) -> None:
        self.buffer = b""
        self.done = False

    def feed(self, data: bytes) -> list[str]:
        """Text in the events completed by ``data``."""
        *events, self.buffer = (self.buffer + data).split(b"\n\n")
        texts: list[str] = []
        for event in events:
            for line in event.splitlines():
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    self.done = True
                    return texts
                chunk, _end = _decode_json(payload.decode())
                for choice in chunk.get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        texts.append(content)
        return texts


async def read_sse(reads: AsyncIterator[bytes]) -> int:
    """Characters of text in a raw streamed body; fails if it ends before ``[DONE]``.

    Reads to the end of the body even after ``[DONE]``: a body left unfinished cannot
    go back to the pool, and its connection would be closed."""
    parser = SSEParser()
    received = 0
    async for data in reads:
        for text in parser.feed(data):
            received += len(text)
    if not parser.done:
        raise RuntimeError("the stream ended before [DONE]")
    return received


def request_body(max_tokens: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


# --- the clients ---------------------------------------------------------------------------


def _openai(base_url: str, http_client_class: Any) -> Any:
    """An ``openai.AsyncOpenAI`` on ``http_client_class`` with the pool every client gets."""
    import httpx2
    import openai

    limits = httpx2.Limits(
        max_connections=POOL, max_keepalive_connections=POOL, keepalive_expiry=KEEPALIVE_S
    )
    return openai.AsyncOpenAI(
        base_url=base_url, api_key="x", max_retries=0, http_client=http_client_class(limits=limits)
    )


def sdk_client(base_url: str) -> tuple[Stream, Closer]:
    """The SDK on its own httpx stack, typed chunks."""
    import openai

    client = _openai(base_url, openai.DefaultAsyncHttpxClient)

    async def stream(max_tokens: int) -> int:
        received = 0
        chunks = await client.chat.completions.create(**request_body(max_tokens))
        async for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                received += len(chunk.choices[0].delta.content)
        return received

    return stream, client.close


def sdk_aiohttp_client(base_url: str) -> tuple[Stream, Closer]:
    """The SDK on aiohttp (``DefaultAioHttpClient``), its body read raw."""
    import openai

    client = _openai(base_url, openai.DefaultAioHttpClient)
    create = client.chat.completions.with_streaming_response.create

    async def stream(max_tokens: int) -> int:
        async with create(**request_body(max_tokens)) as response:
            return await read_sse(response.iter_bytes())

    return stream, client.close


def aiohttp_client(base_url: str, *, trimmed: bool = False) -> tuple[Stream, Closer]:
    """A plain aiohttp session: one POST, the body read with ``readany``. ``trimmed``: the
    headers set once on the session, a cookie jar that keeps nothing, no automatic
    ``User-Agent`` or ``Accept-Encoding``."""
    import aiohttp
    from yarl import URL

    session: aiohttp.ClientSession | None = None
    url = URL(base_url.rstrip("/") + "/chat/completions")
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}

    async def stream(max_tokens: int) -> int:
        nonlocal session
        if session is None:  # made on the running loop, as aiohttp wants
            connector = aiohttp.TCPConnector(limit=POOL, keepalive_timeout=KEEPALIVE_S)
            if trimmed:
                session = aiohttp.ClientSession(
                    connector=connector,
                    headers=headers,
                    cookie_jar=aiohttp.DummyCookieJar(),
                    skip_auto_headers=("User-Agent", "Accept-Encoding"),
                )
            else:
                session = aiohttp.ClientSession(connector=connector)
        body = json.dumps(request_body(max_tokens)).encode()
        extra = None if trimmed else headers
        async with session.post(url, data=body, headers=extra) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            return await read_sse(_readany(response.content))

    async def close() -> None:
        if session is not None:
            await session.close()

    return stream, close


async def _readany(content: Any) -> AsyncIterator[bytes]:
    while data := await content.readany():
        yield data


def lean_client(base_url: str) -> tuple[Stream, Closer] | None:
    """Commit af80efc's lean transport under httpx; None where it does not exist."""
    try:
        from agents.transport import LeanTransport
    except ImportError:
        return None
    import httpx2

    client = httpx2.AsyncClient(transport=LeanTransport())
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}

    async def stream(max_tokens: int) -> int:
        body = json.dumps(request_body(max_tokens)).encode()
        request = client.build_request("POST", url, headers=headers, content=body)
        response = await client.send(request, stream=True)
        try:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            return await read_sse(response.aiter_raw())
        finally:
            await response.aclose()

    return stream, client.aclose


def clients(base_url: str) -> dict[str, tuple[Stream, Closer]]:
    made = {
        "sdk": sdk_client(base_url),
        "sdk-aiohttp": sdk_aiohttp_client(base_url),
        "aiohttp": aiohttp_client(base_url),
        "aiohttp-trimmed": aiohttp_client(base_url, trimmed=True),
    }
    lean = lean_client(base_url)
    if lean is not None:
        made["lean"] = lean
    else:
        print("lean: agents.transport cannot be imported here; not measured")
    return made


# --- the simulator -------------------------------------------------------------------------


def start_simulator(ttft_ms: float) -> tuple[subprocess.Popen[str], str]:
    cmd = [PYTHON, "manage.py", "llm_simulator", "--port", "0", "--ttft-ms", f"{ttft_ms:g}"]
    cmd += ["--tokens-per-sec", "50", "--reply-tokens", "100000"]
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        cmd,
        cwd=BASE_DIR,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout is not None else ""
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+/v1)", line)
    if match is None:
        proc.terminate()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return proc, match.group(1)


class SimStats:
    """The simulator's ``/sim/stats`` over one kept-alive connection, so that reading
    them does not itself count as a connection."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, 10)

    def call(self, path: str, method: str = "GET") -> dict[str, Any]:
        self.conn.request(method, path, body=b"" if method == "POST" else None)
        document: dict[str, Any] = json.loads(self.conn.getresponse().read())
        return document

    def connections(self) -> int:
        """Connections the simulator has accepted since it started."""
        return int(self.call("/sim/stats")["connections"])

    def close(self) -> None:
        self.conn.close()


# --- measuring -----------------------------------------------------------------------------


async def round_cpu(stream: Stream, streams: int, tokens: int) -> float:
    """CPU seconds of this process for ``streams`` concurrent streams of ``tokens`` tokens."""
    gc.collect()
    cpu0 = time.process_time()
    received = await asyncio.gather(*(stream(tokens) for _ in range(streams)))
    cpu = time.process_time() - cpu0
    if not all(received):
        raise RuntimeError("a stream brought no text")
    return cpu


@dataclass
class Cost:
    """Per-round estimates (ms) of one client, and the connections its timed rounds opened."""

    per_call: list[float]
    per_token: list[float]
    opened: int

    @staticmethod
    def of(short: list[float], long: list[float], streams: int, tokens: int, opened: int) -> Cost:
        extra = streams * (tokens - 1)
        per_token = [(b - a) / extra * 1000 for a, b in zip(short, long, strict=True)]
        per_call = [a / streams * 1000 - t for a, t in zip(short, per_token, strict=True)]
        return Cost(per_call, per_token, opened)


async def measure(
    runs: dict[str, tuple[Stream, Closer]], stats: SimStats, streams: int, tokens: int, rounds: int
) -> dict[str, Cost]:
    for stream, _close in runs.values():  # first-call costs, and a pool of open connections
        await round_cpu(stream, streams, 2)
    short: dict[str, list[float]] = {name: [] for name in runs}
    long: dict[str, list[float]] = {name: [] for name in runs}
    opened = dict.fromkeys(runs, 0)
    for _ in range(rounds):  # interleaved, so a change of machine speed hits every client
        for name, (stream, _close) in runs.items():
            before = stats.connections()
            short[name].append(await round_cpu(stream, streams, 1))
            long[name].append(await round_cpu(stream, streams, tokens))
            opened[name] += stats.connections() - before
    return {name: Cost.of(short[name], long[name], streams, tokens, opened[name]) for name in runs}


def spread(values: list[float], digits: int) -> str:
    low, mid, high = (
        f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values))
    )
    return f"{mid} ({low}-{high})"


def report(costs: dict[str, Cost], streams: int, tokens: int, rounds: int) -> None:
    print(
        f"{streams} concurrent streams, 1 and {tokens} tokens, {rounds} rounds: "
        "median (lowest-highest) over the rounds"
    )
    print(f"{'client':<12} {'ms CPU per call':>24} {'ms CPU per token':>27} {'new conns':>10}")
    for name, cost in costs.items():
        print(
            f"{name:<12} {spread(cost.per_call, 3):>24} {spread(cost.per_token, 4):>27} "
            f"{cost.opened:>10}"
        )
    if any(cost.opened for cost in costs.values()):
        print("!!! new connections were opened in timed rounds: their per call includes them")
    call = min(costs, key=lambda n: statistics.median(costs[n].per_call))
    token = min(costs, key=lambda n: statistics.median(costs[n].per_token))
    print(f"cheapest per call: {call}; per token: {token}")
    print(
        f"sdk-cost: streams={streams} tokens={tokens} rounds={rounds} "
        + " ".join(
            f"{name}={statistics.median(c.per_call):.3f}/{statistics.median(c.per_token):.4f}"
            for name, c in costs.items()
        )
    )


async def main_async(base_url: str, streams: int, tokens: int, rounds: int) -> None:
    runs = clients(base_url)
    stats = SimStats(base_url)
    try:
        costs = await measure(runs, stats, streams, tokens, rounds)
    finally:
        stats.close()
        for _stream, close in runs.values():
            with contextlib.suppress(Exception):
                await close()
    report(costs, streams, tokens, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    args = parser.parse_args()
    if args.tokens < 2 or args.streams < 1 or args.rounds < 1:
        parser.error("--tokens must be at least 2, --streams and --rounds at least 1")
    sys.path.insert(0, str(BASE_DIR))  # for agents.transport, where it exists
    simulator, base_url = start_simulator(args.ttft_ms)
    try:
        asyncio.run(main_async(base_url, args.streams, args.tokens, args.rounds))
    finally:
        simulator.terminate()
        simulator.wait(10)


if __name__ == "__main__":
    main()
