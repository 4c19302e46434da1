"""Chat completions without the I/O: validating a request, planning the reply, its bytes.

``plan_reply`` turns a request, the configuration and the request's markers into what
will be sent and when; ``stream_frames`` builds, once per reply, every byte of the SSE
stream except the tokens themselves, so the per-token work stays a single bytes format.
A turn of tool calls (``agents.simulator.tools``) is planned the same way, its chunks
(``tool_call_frames``) built whole up front and sent on the token schedule.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from agents.simulator.config import SimulatorConfig
from agents.simulator.script import SLOW_TOKENS_PER_SEC, Overrides
from agents.simulator.text import count_prompt_tokens, sized_reply
from agents.simulator.tools import SimToolCall, argument_fragments
from agents.simulator.wire import CHUNKED_END, DONE_EVENT, chunk, dumps


class InvalidRequest(ValueError):
    """The request body is JSON but not a valid chat completion request."""


@dataclass
class ReplyPlan:
    """One reply: its tokens (produced lazily), its schedule and how it ends."""

    model: str
    tokens: Iterator[str]
    count: int
    finish_reason: str
    usage: dict[str, int]
    t_first: float  # loop time of the first token
    interval: float  # seconds between tokens
    drop: int | None  # close the connection after this many tokens; None: finish
    # A turn of tool calls: no tokens, ``count`` chunks of calls (``tool_call_frames``).
    tool_calls: list[SimToolCall] = field(default_factory=list)


def chat_arguments(payload: dict[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
    """``messages`` and the token limit of a request; ``InvalidRequest`` if they are bad."""
    messages = payload.get("messages")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, dict) for m in messages)
    ):
        raise InvalidRequest("'messages' must be a non-empty list of objects.")
    max_tokens = payload.get("max_completion_tokens")
    if max_tokens is None:  # the newer name wins; older clients send max_tokens
        max_tokens = payload.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0
    ):
        raise InvalidRequest("'max_tokens' must be a non-negative integer.")
    return messages, max_tokens


def chat_tools(payload: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The ``tools`` a request offers (None when none, or ``tool_choice`` is "none");
    ``InvalidRequest`` unless a list of objects."""
    tools = payload.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise InvalidRequest("'tools' must be a list of objects.")
    return tools if tools and payload.get("tool_choice") != "none" else None


def plan_reply(
    config: SimulatorConfig,
    payload: dict[str, Any],
    messages: list[dict[str, Any]],
    max_tokens: int | None,
    overrides: Overrides,
    received_at: float,
    *,
    dropped: bool = False,
    calls: list[SimToolCall] | None = None,
) -> ReplyPlan:
    """What to send and when: markers win over the configuration, ``max_tokens`` caps.

    With ``calls``, the turn makes them: one chunk per call and per piece of its
    arguments, each sent when a token would be (neither ``[sim:tokens=N]`` nor
    ``max_tokens`` applies). A reply of fixed text is sent whole unless
    ``[sim:tokens=N]`` or ``max_tokens`` cut it.
    """
    tokens: Iterator[str]
    if calls:
        count = sum(1 + len(argument_fragments(call.arguments)) for call in calls)
        tokens = iter(())
        finish_reason = "tool_calls"
    else:
        if overrides.tokens is not None:
            count, tokens = sized_reply(messages, overrides.tokens)
        else:
            count, tokens = sized_reply(messages, config.reply_tokens, whole=True)
        finish_reason = "stop"
        if max_tokens is not None and max_tokens < count:
            count = max_tokens
            tokens = itertools.islice(tokens, count)
            finish_reason = "length"
    ttft_s = (overrides.ttft_ms if overrides.ttft_ms is not None else config.ttft_ms) / 1000
    tps = SLOW_TOKENS_PER_SEC if overrides.slow else config.tokens_per_sec
    drop = overrides.drop if overrides.drop is not None else config.drop_after
    if dropped and drop is None:
        drop = count // 2  # drop_rate picked this stream: it breaks halfway
    if drop is not None and drop >= count:
        drop = None  # the reply ends before the failure would have happened
    prompt_tokens = count_prompt_tokens(messages)
    return ReplyPlan(
        model=model_name(payload, config.model),
        tokens=tokens,
        count=count,
        finish_reason=finish_reason,
        usage={
            "prompt_tokens": prompt_tokens,
            "completion_tokens": count,
            "total_tokens": prompt_tokens + count,
        },
        t_first=received_at + ttft_s,
        interval=1.0 / tps,
        drop=drop,
        tool_calls=calls or [],
    )


def wants_usage(payload: dict[str, Any]) -> bool:
    """Whether a streaming request asked for the final usage chunk."""
    stream_options = payload.get("stream_options")
    return isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))


def model_name(payload: dict[str, Any], default: str) -> str:
    """The model the request names (echoed back), else the configured one."""
    model = payload.get("model")
    return model if isinstance(model, str) and model else default


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def completion_document(plan: ReplyPlan) -> dict[str, Any]:
    """The non-streamed response body; consumes ``plan.tokens``."""
    message: dict[str, Any]
    if plan.tool_calls:
        message = {"role": "assistant", "content": None, "refusal": None,
                   "tool_calls": [_call_object(call) for call in plan.tool_calls]}  # fmt: skip
    else:
        message = {"role": "assistant", "content": "".join(plan.tokens), "refusal": None}
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": plan.model,
        "system_fingerprint": "fp_orion_sim",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": plan.finish_reason,
            }
        ],
        "usage": plan.usage,
    }


def stream_head(keep_alive: bool) -> bytes:
    """Status line and headers of a streamed reply."""
    return (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/event-stream; charset=utf-8\r\n"
        b"Cache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n"
        + (b"Connection: keep-alive\r\n" if keep_alive else b"Connection: close\r\n")
        + b"\r\n"
    )


def stream_frames(
    model: str, finish_reason: str, usage: dict[str, int] | None
) -> tuple[bytes, bytes, bytes, bytes]:
    """``(prefix, suffix, opening, tail)`` of a streamed reply.

    A content chunk is ``prefix + <JSON-escaped token> + suffix`` in one chunked frame;
    ``opening`` is the frame with the assistant role, ``tail`` the finish chunk, the
    optional usage chunk, ``[DONE]`` and the end of the chunked body.
    """
    # Everything around the token is the same for the whole reply: build it once.
    head = _chunk_head(model)
    choice_open = b'[{"index":0,"delta":'
    choice_close = b',"logprobs":null,"finish_reason":%b}]}\n\n'
    prefix = b"data: " + head + choice_open + b'{"content":'
    suffix = b"}" + choice_close % b"null"
    opening = chunk(
        b"data: " + head + choice_open + b'{"role":"assistant","content":""}'
        + choice_close % b"null"
    )  # fmt: skip
    tail = [
        chunk(
            b"data: " + head + choice_open + b"{}"
            + choice_close % json.dumps(finish_reason).encode()
        )
    ]  # fmt: skip
    if usage is not None:
        tail.append(chunk(b"data: " + head + b'[],"usage":' + dumps(usage) + b"}\n\n"))
    tail += [DONE_EVENT, CHUNKED_END]
    return prefix, suffix, opening, b"".join(tail)


def tool_call_frames(
    model: str, calls: list[SimToolCall], usage: dict[str, int] | None
) -> tuple[bytes, list[bytes], bytes]:
    """``(opening, frames, tail)`` of a streamed turn of tool calls, as chunked frames.

    ``frames`` holds, for each call in turn, a chunk with its ``id``, ``type`` and
    ``function.name`` (arguments empty), then one chunk per piece of its arguments
    (``argument_fragments``); ``tail`` the ``finish_reason: "tool_calls"`` chunk, the
    optional usage chunk, ``[DONE]`` and the end of the chunked body.
    """
    data_head = b"data: " + _chunk_head(model)  # one id for every chunk of the turn
    head = data_head + b'[{"index":0,"delta":'

    def frame(delta: bytes, finish: bytes = b"null") -> bytes:
        return chunk(head + delta + b',"logprobs":null,"finish_reason":' + finish + b"}]}\n\n")

    opening = frame(b'{"role":"assistant","content":null}')
    frames = []
    for index, call in enumerate(calls):
        first = {"index": index, "id": call.id, "type": "function",
                 "function": {"name": call.name, "arguments": ""}}  # fmt: skip
        frames.append(frame(dumps({"tool_calls": [first]})))
        for piece in argument_fragments(call.arguments):
            more = {"index": index, "function": {"arguments": piece}}
            frames.append(frame(dumps({"tool_calls": [more]})))
    tail = [frame(b"{}", b'"tool_calls"')]
    if usage is not None:
        tail.append(chunk(data_head + b'[],"usage":' + dumps(usage) + b"}\n\n"))
    tail += [DONE_EVENT, CHUNKED_END]
    return opening, frames, b"".join(tail)


def _chunk_head(model: str) -> bytes:
    """A chunk's JSON up to its ``choices`` value: the same for every chunk of a reply."""
    return (
        f'{{"id":"{completion_id()}","object":"chat.completion.chunk",'
        f'"created":{int(time.time())},"model":{json.dumps(model)},'
        '"system_fingerprint":"fp_orion_sim","choices":'
    ).encode()


def _call_object(call: SimToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}}  # fmt: skip
