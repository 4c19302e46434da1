"""Hand-written model servers for hostile cases: plain asyncio, one scripted reply per
request, so a test says exactly which bytes the client meets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

Reply = Callable[[asyncio.StreamWriter, "ModelServer"], Awaitable[bool]]
"""Writes one response; returns whether the connection stays open for another request."""


class ModelServer:
    """Listens on 127.0.0.1; request ``i`` gets ``replies[i]`` (the last one repeats)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = replies
        self.requests: list[bytes] = []  # each request's head and body, as received
        self.connections = 0
        self.stop = asyncio.Event()  # set when the test is over: silent replies end then
        self.port = 0
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def request_json(self, index: int = 0) -> Any:
        return json.loads(self.requests[index].partition(b"\r\n\r\n")[2])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            while (request := await _read_request(reader)) is not None:
                self.requests.append(request)
                reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
                if not await reply(writer, self):
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()
            self._handlers.discard(task)
            self._writers.discard(writer)

    async def close(self) -> None:
        """End every conversation: silent replies stop waiting, idle connections close."""
        self.stop.set()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


@asynccontextmanager
async def serving(*replies: Reply) -> AsyncIterator[ModelServer]:
    model = ModelServer(*replies)
    server = await asyncio.start_server(model.handle, "127.0.0.1", 0)
    model.port = server.sockets[0].getsockname()[1]
    try:
        yield model
    finally:
        server.close()
        await model.close()
        await server.wait_closed()


# --- replies ----------------------------------------------------------------------------------


def event(
    text: str | None = None,
    *,
    finish: str | None = None,
    usage: tuple[int, int] | None = None,
) -> bytes:
    """One server-sent event carrying a chat completion chunk."""
    chunk: dict[str, Any] = {
        "object": "chat.completion.chunk",
        "choices": [
            {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}
        ]
        if text or finish
        else [],
    }
    if usage is not None:
        chunk["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def answer(*texts: str, usage: tuple[int, int] = (3, 2)) -> Reply:
    """A well-formed streamed answer, sent in one go, on a connection kept alive."""
    body = b"".join(event(text) for text in texts) + event(finish="stop") + event(usage=usage)

    async def reply(writer: asyncio.StreamWriter, model: ModelServer) -> bool:
        writer.write(SSE_HEAD + chunked(body + DONE) + b"0\r\n\r\n")
        await writer.drain()
        return True

    return reply


def completion(text: str) -> Reply:
    """A well-formed non-streamed completion."""
    body = json.dumps(
        {
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    ).encode()
    return status(200, body, content_type=b"application/json")


def status(
    code: int,
    body: bytes = b"{}",
    *,
    headers: bytes = b"",
    content_type: bytes = b"application/json",
) -> Reply:
    """A whole response with ``code``, its length given, on a connection kept alive."""

    async def reply(writer: asyncio.StreamWriter, model: ModelServer) -> bool:
        writer.write(
            b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n%s"
            % (code, content_type, len(body), headers, body)
        )
        await writer.drain()
        return True

    return reply


def raw(*pieces: bytes, then: str = "close") -> Reply:
    """``pieces`` as they are, then hang up (``then="close"``) or fall silent ("wait")."""

    async def reply(writer: asyncio.StreamWriter, model: ModelServer) -> bool:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
        if then == "wait":
            await model.stop.wait()
        return False

    return reply
