"""OpenAI-compatible LLM simulator: a small HTTP/1.1 server on plain asyncio.

In development, in the tests and in the load benchmark, "the model" Orion talks to is this
simulator. It streams deterministic English-looking text on an exact schedule, so the rest
of the stack can be exercised and measured without a GPU or a paid API.

Endpoints (the ``/v1`` prefix is optional; any model name is accepted and echoed back)
    POST /v1/chat/completions   streamed (SSE over chunked encoding) or not
    GET  /v1/models             the configured model (``orion-sim-1`` by default)
    GET  /v1/models/{id}        any id is "available" and echoed back
    POST /v1/embeddings         a hashed bag of words, L2-normalised (64 dims unless
                                ``dimensions``): texts sharing words are close
    GET  /sim/stats             requests, streams, tokens (streamed content tokens),
                                lateness_ms {p50, p95, p99, max}, connections,
                                active_streams, errors, drops
    POST /sim/stats/reset       clears the counters and the lateness histogram
    GET  /sim/control           the settings below that may change while it runs
    POST /sim/control           change some: a JSON object of ttft_ms, tokens_per_sec,
                                reply_tokens, error_rate, drop_after (null: never),
                                drop_rate (a share of streams broken halfway);
                                400 naming what is wrong, else the new settings

Schedule
    Token ``i`` (0-based) of a streamed reply is written at ``t0 + ttft + i / tokens_per_sec``,
    ``t0`` being when the request body was fully read; lateness is how long after that each
    token actually went out. A non-streamed reply is sent when its last token would have been.

Markers, in the last user message; they combine, e.g. ``[sim:tokens=5][sim:slow]``
    ``[sim:error]``     HTTP 500 with an OpenAI-style error body
    ``[sim:drop=N]``    close the connection after N content tokens (no finish chunk, no
                        ``[DONE]``, no chunked terminator)
    ``[sim:tokens=N]``  a reply of N tokens (``max_tokens`` still caps it)
    ``[sim:ttft=MS]``   MS milliseconds to the first token
    ``[sim:slow]``      5 tokens per second

Replies
    ``simulated_reply(messages, n)`` is the pure function behind every reply, so tests can
    compute the exact text. Replies are sentences that pick up the question's words; a
    question asking for a list, a table or code (or naming a language: python, sql, ...)
    gets that markdown first (a fenced block names its language). When the first message
    is a system message starting with "Write a short title" the reply is a title made from
    the last user message. A system line ``Always begin your answer with: <text>`` makes
    every reply begin with ``<text>``. A request ending with an assistant message whose
    text is the start of the reply to the messages before it continues that reply exactly
    (how Orion's failover resumes a reply on another provider): the two texts joined are
    the undisturbed reply, to the character.
    ``usage.prompt_tokens`` counts whitespace-separated words in all messages (at least 1),
    ``usage.completion_tokens`` the tokens sent.

Running it
    ``python manage.py llm_simulator --port 8001`` (see its flags), or from code::

        with run_in_thread(SimulatorConfig(port=0, ttft_ms=5, tokens_per_sec=500)) as sim:
            client = openai.OpenAI(base_url=sim.base_url, api_key="test")

Modules: ``config`` (settings), ``text`` (deterministic replies), ``script`` (markers),
``stats``, ``wire`` (HTTP framing), ``pacing`` (token schedule), ``completions`` (chat
replies without I/O), ``server`` (``LLMSimulator``), ``runner`` (ways to run it).
"""

from __future__ import annotations

from agents.simulator.config import DEFAULT_MODEL, SimulatorConfig
from agents.simulator.runner import SimulatorThread, run_in_thread, run_until_stopped, serve
from agents.simulator.script import SLOW_TOKENS_PER_SEC, parse_markers
from agents.simulator.server import LLMSimulator
from agents.simulator.stats import SimStats
from agents.simulator.text import (
    EMBEDDING_DIMS,
    TITLE_PROMPT_PREFIX,
    Messages,
    content_text,
    count_prompt_tokens,
    is_title_request,
    simulated_embedding,
    simulated_reply,
)
from agents.simulator.wire import MAX_BODY_BYTES

__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDING_DIMS",
    "LLMSimulator",
    "MAX_BODY_BYTES",
    "Messages",
    "SLOW_TOKENS_PER_SEC",
    "SimStats",
    "SimulatorConfig",
    "SimulatorThread",
    "TITLE_PROMPT_PREFIX",
    "content_text",
    "count_prompt_tokens",
    "is_title_request",
    "parse_markers",
    "run_in_thread",
    "run_until_stopped",
    "serve",
    "simulated_embedding",
    "simulated_reply",
]
