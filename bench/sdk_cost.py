"""CPU per streamed call and per token: the OpenAI SDK's streaming against Orion's own path.

    .venv/bin/python bench/sdk_cost.py [--streams 50] [--tokens 50] [--rounds 5]

Starts the project's LLM simulator (``manage.py llm_simulator``, 50 tokens/s, so each read
holds one token as with a real model) on a free port. Then, in this process, it runs
rounds of ``--streams`` concurrent streamed chat completions through each client below,
alternately with 1-token and ``--tokens``-token replies, and takes this process's CPU time
(``time.process_time``) over each round. Per token is the difference between a long and
a short round, divided by the extra tokens; per call is what a stream costs besides its
tokens (a 1-token round's CPU divided by the streams, less one token). Connections are
open before the timed rounds (one warm-up round each), as they are in the app. The
medians over the rounds are printed.

Clients:

- ``sdk``: ``openai.AsyncOpenAI(...).chat.completions.create(stream=True)``, the SDK's own
  HTTP stack, typed chunks (what the bench's baseline runs);
- ``sdk-lean``: the same SDK calls on the client ``agents.providers`` configures, over
  Orion's transport;
- ``orion-httpx``: ``agents.providers.stream_chat`` with ``ORION_MODEL_HTTP=httpx``;
- ``orion-lean``: ``agents.providers.stream_chat`` as the app runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = str(BASE_DIR / ".venv" / "bin" / "python")
MODEL = "orion-sim-1"

Stream = Callable[[int], Awaitable[int]]  # max_tokens -> characters received


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


def clients(base_url: str) -> dict[str, Stream]:
    import httpx2
    import openai

    from agents.providers import ProviderConfig, TextDelta, _client, stream_chat

    question = "How do streamed replies cost CPU?"

    def config(http: str) -> ProviderConfig:
        return ProviderConfig(
            name="bench",
            base_url=base_url,
            api_key="x",
            model=MODEL,
            timeout=60.0,
            connect_timeout=10.0,
            max_retries=0,
            price_in_per_1k=Decimal(0),
            price_out_per_1k=Decimal(0),
            http=http,
        )

    def sdk_stream(client: openai.AsyncOpenAI) -> Stream:
        async def stream(max_tokens: int) -> int:
            received = 0
            chunks = await client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": question}],
                max_tokens=max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    received += len(chunk.choices[0].delta.content)
            return received

        return stream

    def orion_stream(http: str) -> Stream:
        provider = config(http)

        async def stream(max_tokens: int) -> int:
            received = 0
            messages = [{"role": "user", "content": question}]
            async for event in stream_chat(provider, messages, max_tokens=max_tokens):
                if isinstance(event, TextDelta):
                    received += len(event.text)
            return received

        return stream

    plain_sdk = openai.AsyncOpenAI(
        base_url=base_url,
        api_key="x",
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=1000)
        ),
    )
    return {
        "sdk": sdk_stream(plain_sdk),
        "sdk-lean": sdk_stream(_client(config("lean"))),
        "orion-httpx": orion_stream("httpx"),
        "orion-lean": orion_stream("lean"),
    }


async def round_cpu(stream: Stream, streams: int, tokens: int) -> float:
    """CPU seconds of this process for ``streams`` concurrent streams of ``tokens`` tokens."""
    gc.collect()
    cpu0 = time.process_time()
    received = await asyncio.gather(*(stream(tokens) for _ in range(streams)))
    cpu = time.process_time() - cpu0
    if not all(received):
        raise RuntimeError("a stream brought no text")
    return cpu


async def measure(base_url: str, streams: int, tokens: int, rounds: int) -> None:
    runs = clients(base_url)
    for stream in runs.values():  # first-call costs, and a pool of open connections
        await round_cpu(stream, streams, 2)
    short: dict[str, list[float]] = {name: [] for name in runs}
    long: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):  # interleaved, so a change of machine speed hits every client
        for name, stream in runs.items():
            short[name].append(await round_cpu(stream, streams, 1))
            long[name].append(await round_cpu(stream, streams, tokens))
    print(f"{streams} concurrent streams, 1 and {tokens} tokens, {rounds} rounds (medians):")
    print(f"{'client':<12} {'ms CPU per call':>16} {'ms CPU per token':>17}")
    results = {}
    for name in runs:
        extra = [b - a for a, b in zip(short[name], long[name], strict=True)]
        per_token = statistics.median(extra) / (streams * (tokens - 1)) * 1000
        per_call = statistics.median(short[name]) / streams * 1000 - per_token
        results[name] = (per_call, per_token)
        print(f"{name:<12} {per_call:>16.3f} {per_token:>17.4f}")
    for sdk, orion in (("sdk-lean", "orion-lean"), ("sdk", "orion-httpx")):
        call = results[sdk][0] - results[orion][0]
        token = results[sdk][1] - results[orion][1]
        print(f"{sdk} - {orion}: {call:+.3f} ms per call, {token:+.4f} ms per token")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    args = parser.parse_args()
    if args.tokens < 2:
        parser.error("--tokens must be at least 2")

    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    simulator, base_url = start_simulator(args.ttft_ms)
    try:
        asyncio.run(measure(base_url, args.streams, args.tokens, args.rounds))
    finally:
        simulator.terminate()
        simulator.wait(10)


if __name__ == "__main__":
    main()
