"""Parsing a streamed chat completion: server-sent events carrying JSON chunks.

Fed the bytes of each network read, ``ChatStreamParser.feed`` returns all the answer's
text they completed, so one read becomes at most one ``TextDelta``. It works on whole
lines: the bytes up to the last newline are decoded once, a line that is still arriving
waits for the next read. Each ``data:`` payload is parsed with ``raw_decode`` on the
decoded text, which skips the encoding detection ``json.loads`` does on bytes. Lines end
with LF or CRLF; comments and the ``event``/``id``/``retry`` fields are ignored; the
data lines of one event are joined by newlines, as the SSE specification says.

Tool calls arrive as OpenAI streams them: fragments in ``choices[0].delta.tool_calls``,
each naming the call it continues by ``index``; the first carries the call's ``id`` and
``function.name``, and the ``function.arguments`` of all of them are concatenated. The
parser keeps them aside (no text comes of them) and ``tool_calls()`` assembles them once
the stream is over. A text chunk pays one dictionary lookup for this.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from agents.providers.errors import ProviderError
from agents.providers.events import ToolCallRequest, Usage

logger = logging.getLogger(__name__)

_decode_json = json.JSONDecoder().raw_decode
# A chunk takes a few hundred bytes: a server that never ends its line is broken, and is
# not given all the memory it would take.
MAX_LINE_BYTES = 1 << 20


class ChatStreamParser:
    """The state of one streamed chat completion, advanced by ``feed``.

    ``done`` is set by ``data: [DONE]``; ``finish_reason`` and ``usage`` keep the last
    values the chunks carried, ``tool_calls()`` the calls they asked for. A malformed
    chunk (tool-call fragments included) or a streamed ``error`` object raises
    ``ProviderError("provider_error")``.
    """

    __slots__ = ("_calls", "_pending", "_tail", "done", "finish_reason", "usage")

    def __init__(self) -> None:
        self._tail = b""  # the start of a line that has not ended yet
        self._pending: str | None = None  # data of an event that has not ended yet
        self._calls: dict[int, _PartialCall] | None = None  # tool calls, by index
        self.done = False
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    @property
    def finished(self) -> bool:
        """Whether the answer is complete: ``[DONE]`` arrived, or a finish reason."""
        return self.done or self.finish_reason is not None

    def feed(self, data: bytes) -> str:
        """The text of the events that ``data`` completes ("" when none)."""
        if self._tail:
            data = self._tail + data
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) > MAX_LINE_BYTES:
                logger.warning("model streamed a line longer than %d bytes", MAX_LINE_BYTES)
                raise ProviderError("provider_error")
            self._tail = data
            return ""
        self._tail = data[cut + 1 :]
        try:
            lines = data[:cut].decode()
        except UnicodeDecodeError:
            raise ProviderError("provider_error") from None
        text = ""
        for line in lines.split("\n"):
            if line.endswith("\r"):
                line = line[:-1]
            if not line:  # a blank line ends an event
                if self._pending is not None:
                    text += self._dispatch()
            elif line.startswith("data:"):
                value = line[5:]
                self._pending = value if self._pending is None else f"{self._pending}\n{value}"
        return text

    def end(self) -> str:
        """The stream is over: the text of a last event whose blank line never came."""
        text = ""
        if self._tail:
            text = self.feed(b"\n")
        if self._pending is not None:
            text += self._dispatch()
        return text

    def tool_calls(self) -> tuple[ToolCallRequest, ...]:
        """The tool calls the stream asked for, by ``index``; () when none.

        A call streamed without an ``id`` is given ``call_<index>``; one without a name
        raises ``ProviderError("provider_error")``.
        """
        calls = self._calls
        if not calls:
            return ()
        requests = []
        for index in sorted(calls):
            call = calls[index]
            if not call.name:
                logger.warning("model streamed a tool call without a name (index %d)", index)
                raise ProviderError("provider_error")
            arguments = "".join(call.arguments)
            requests.append(ToolCallRequest(call.id or f"call_{index}", call.name, arguments))
        return tuple(requests)

    def _dispatch(self) -> str:
        payload = (self._pending or "").strip()
        self._pending = None
        if payload == "[DONE]":
            self.done = True
            return ""
        # The chunk is read here rather than in a method of its own: this runs for every
        # token of every reply, and a call is a sizeable share of its cost.
        try:
            chunk, end = _decode_json(payload)
            if end != len(payload) or type(chunk) is not dict:
                raise ValueError("not one JSON object")
            error = chunk.get("error")
            if error is not None:
                logger.warning("model streamed an error: %.300s", error)
                raise ProviderError("provider_error")
            text = ""
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta")
                if delta:
                    content = delta.get("content")
                    if content:
                        text += content
                    fragments = delta.get("tool_calls")
                    if fragments:
                        self._tool_fragments(fragments)
                finish = choice.get("finish_reason")
                if finish:
                    self.finish_reason = finish
            usage = chunk.get("usage")
            if usage:
                self.usage = Usage(
                    tokens_in=int(usage.get("prompt_tokens") or 0),
                    tokens_out=int(usage.get("completion_tokens") or 0),
                )
        except (ValueError, TypeError, AttributeError):  # not JSON, or not a chunk's shape
            logger.warning("model streamed a malformed chunk: %.300s", payload)
            raise ProviderError("provider_error") from None
        return text

    def _tool_fragments(self, fragments: object) -> None:
        """Add one delta's ``tool_calls`` fragments to the calls they continue.

        A fragment without ``index`` (some servers send each call whole) continues the
        call at its position in the list. Anything not shaped as OpenAI sends it raises
        ``TypeError`` or ``AttributeError`` (a malformed chunk).
        """
        if type(fragments) is not list:
            raise TypeError("tool_calls is not a list")
        calls = self._calls
        if calls is None:
            calls = self._calls = {}
        for position, fragment in enumerate(fragments):
            index = fragment.get("index", position)
            if type(index) is not int or index < 0:
                raise TypeError("a tool call's index is not a non-negative integer")
            call = calls.get(index)
            if call is None:
                call = calls[index] = _PartialCall()
            call.id = call.id or _text(fragment, "id")
            function = fragment.get("function")
            if function is not None:
                call.name = call.name or _text(function, "name")
                call.arguments.append(_text(function, "arguments"))


def _text(fragment: Any, key: str) -> str:
    """A tool call fragment's string under ``key`` ("" when it has none); ``TypeError``
    when it is something else."""
    value = fragment.get(key)
    if value is None:
        return ""
    if type(value) is not str:
        raise TypeError(f"a tool call's {key} is not a string")
    return value


class _PartialCall:
    """A tool call as far as its fragments have come."""

    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []
