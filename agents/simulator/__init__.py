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

Tool calls (``agents.simulator.tools``; only when the request offers ``tools``, a list of
OpenAI tool objects, and ``tool_choice`` is not "none")
    When the last message is the user's, the turn is tool calls instead of text if:
    ``[sim:tool=NAME JSON]``  a marker in the last user message: a call to NAME (any name
                        of letters, digits, ``_ . -``, offered or not) whose arguments are
                        the JSON text after the name, verbatim, even malformed (``{}``
                        when none is written). The text runs, on one line, to the first
                        ``]`` that ends the message or is followed by whitespace or ``[``:
                        ``{"a": [1, 2]}`` works, a ``]`` followed by a space inside it
                        does not. Several markers: several calls in the one turn, in order.
    ``[sim:tool_repeat=NAME JSON]``  the same, and the call is made again in every later
                        round of the conversation too (after the tool results), so a
                        caller's round limit can be reached.
    Without markers: ``calculator``, when offered, for the first arithmetic expression in
    the message (two or more numbers joined by ``+ - * / × ÷ ^``, parentheses allowed:
    "what is 12 * (3 + 4)?" gives ``{"expression": "12 * (3 + 4)"}``, as written), and
    ``current_datetime``, when offered, with ``{}`` for the word "today", "date" or "time"
    (whole words, any case); both: two calls, calculator first. When the last message is
    not the user's (tool results came back), only ``tool_repeat`` markers make calls.
    Ids are ``call_<n>``: ``n`` counts the calls the conversation's assistant messages
    already made, so the first is ``call_0`` and ids never repeat in a conversation.
    Streamed, the turn is: the role chunk (``content`` null), then per call one chunk with
    its ``index``, ``id``, ``type: "function"``, ``function.name`` and empty
    ``arguments``, then its arguments in pieces of at most 24 characters (two pieces or
    more for two characters or more), then a chunk with ``finish_reason: "tool_calls"``,
    the usage chunk (with ``include_usage``) and ``[DONE]``. Every call and piece is a
    chunk sent when a token would be (ttft, rate, ``[sim:slow]``), ``[sim:drop=N]`` closes
    the connection after N of them and ``usage.completion_tokens`` counts them;
    ``[sim:tokens=N]`` and ``max_tokens`` do not apply. Not streamed: ``message.content``
    is null and ``message.tool_calls`` holds the calls, ``finish_reason`` "tool_calls".
    ``[sim:error]`` and ``error_rate`` still fail the request first. ``tools`` that is not
    a list of objects gets a 400. ``simulated_tool_calls(messages, tools)`` is the pure
    function behind the choice (``arithmetic_expression`` the calculator's guess).

Grounded replies: fixed text instead of generated prose (``grounded_answer``)
    Tool results: when messages after the last user message include ``tool`` messages
    (offered ``tools`` or not), the reply quotes each result in order, one sentence each,
    joined by a space. The tool's name is the one of the assistant's call with that
    ``tool_call_id`` (else the message's ``name``, else "the tool"); the result is its
    content stripped, cut to its first 300 characters ("(empty)" if nothing):
        ``The tool NAME failed: RESULT``   a result starting with "Error"
        ``The calculator gives RESULT``    the tool ``calculator``
        ``According to NAME: RESULT``      any other tool
    each ending with "." unless the result already ends with ".", "!" or "?". E.g.
    ``The calculator gives 84.``
    Passages: otherwise, when a system message holds ``<passages>`` ... ``</passages>``
    with passages as ``agents.knowledge.citations.passages_block`` writes them (a line
    ``[n] Title › Heading`` opening the block or following a blank line, then the
    passage's text lines), the passage sharing the most distinct content words with the
    last user message (lower-cased words of 3+ letters, not stop words, ``[sim:...]``
    markers left out; its title line counts) is quoted, ties going to the lower ``n``:
    ``According to the knowledge base [n]: <its first two sentences>`` (its text with
    whitespace runs made single spaces; a sentence ends at ``.``, ``!`` or ``?`` before
    whitespace; cut at a word to 400 characters, with "…"). No passage sharing a word:
    the usual generated reply, no citation. Tool results win over passages.
    ``[sim:prose]`` in the last user message: the usual generated reply even with
    passages (a benchmark's replies keep their length while the passages are still sent).
    A grounded reply is streamed like any reply (ttft, rate, ``[sim:drop=N]``,
    ``[sim:error]``, usage), a token per word with the whitespace before it kept (so
    results are quoted verbatim), after any ``Always begin your answer with:`` text. It
    is sent whole: ``reply_tokens`` does not cut it, ``[sim:tokens=N]`` and
    ``max_tokens`` do. A request ending with the start of it gets the rest, as above.
    A request with no ``tools``, no ``tool`` messages after its last user message and no
    ``<passages>`` block pays nothing for any of this but a look at those messages.

Running it
    ``python manage.py llm_simulator --port 8001`` (see its flags), or from code::

        with run_in_thread(SimulatorConfig(port=0, ttft_ms=5, tokens_per_sec=500)) as sim:
            client = openai.OpenAI(base_url=sim.base_url, api_key="test")

Modules: ``config`` (settings), ``text`` (deterministic replies), ``messages`` (reading
chat messages), ``tools`` (tool calls and grounded replies), ``script`` (markers),
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
from agents.simulator.tools import (
    SimToolCall,
    arithmetic_expression,
    grounded_answer,
    simulated_tool_calls,
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
    "SimToolCall",
    "SimulatorConfig",
    "SimulatorThread",
    "TITLE_PROMPT_PREFIX",
    "arithmetic_expression",
    "content_text",
    "count_prompt_tokens",
    "grounded_answer",
    "is_title_request",
    "parse_markers",
    "run_in_thread",
    "run_until_stopped",
    "serve",
    "simulated_embedding",
    "simulated_reply",
    "simulated_tool_calls",
]
