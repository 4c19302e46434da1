"""HTTP/1.1 on the wire: reading requests, writing JSON responses, chunked SSE frames.

Hand-written on asyncio streams rather than a web framework: the simulator shares its
machine with the app it stands in for, so each request and each token must cost it as
little as possible. Only what OpenAI clients (and curl) send is understood.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

MAX_BODY_BYTES = 32 * 1024 * 1024

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


class HttpError(Exception):
    """A request so broken that we answer it and then close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    """One request, read in full."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    received_at: float  # loop.time() when the body was fully read: t0 of the schedule


# -- reading ---------------------------------------------------------------------------------


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    """The next request on the connection, or None when the client closed it cleanly.

    Raises ``HttpError`` for a request that cannot be answered normally.
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError(400, "Incomplete request head.") from None
        return None  # clean close between requests
    except asyncio.LimitOverrunError:
        raise HttpError(431, "Request head too large.") from None
    method, target, version, headers = _parse_head(head)

    if headers.get("expect", "").lower() == "100-continue":
        # The SDK never sends it, but curl does for large bodies and would stall a second.
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(reader, headers)

    connection = headers.get("connection", "").lower()
    # HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 only when asked to.
    keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
    return Request(
        method=method.upper(),
        path=target.split("?", 1)[0],
        headers=headers,
        body=body,
        keep_alive=keep_alive,
        received_at=asyncio.get_running_loop().time(),
    )


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    """Method, target, version and lower-cased headers of a request head."""
    lines = head[:-4].decode("latin-1").split("\r\n")
    while lines and not lines[0]:  # tolerate stray CRLFs between requests (RFC 9112)
        lines.pop(0)
    parts = lines[0].split(" ") if lines else []
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "Malformed request line.")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, "Malformed header line.")
        headers[name.strip().lower()] = value.strip()
    return method, target, version, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "Invalid Content-Length.") from None
    if length < 0:
        raise HttpError(400, "Invalid Content-Length.")
    if length > MAX_BODY_BYTES:
        raise HttpError(413, "Request body too large.")
    return await reader.readexactly(length) if length else b""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpError(400, "Invalid chunk size.") from None
        if size == 0:
            # Skip trailers up to the blank line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY_BYTES:
            raise HttpError(413, "Request body too large.")
        body += await reader.readexactly(size)
        await reader.readexactly(2)  # CRLF after each chunk


# -- writing ---------------------------------------------------------------------------------


def dumps(payload: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(payload, separators=(",", ":")).encode()


def error_body(message: str, type_: str, code: str | None) -> dict[str, Any]:
    """An OpenAI-style error document."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def send_json(writer: asyncio.StreamWriter, status: int, payload: Any, *, keep_alive: bool) -> None:
    """Write a complete JSON response."""
    body = dumps(payload)
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        "\r\n"
    )
    writer.write(head.encode("latin-1") + body)


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunked-encoding frame."""
    return b"%x\r\n%b\r\n" % (len(data), data)


CHUNKED_END = b"0\r\n\r\n"
DONE_EVENT = chunk(b"data: [DONE]\n\n")

# JSON-escaped token bytes. Vocabulary words repeat across every stream, so escaping each
# one once per process keeps json.dumps off the per-token path. Bounded because title words
# come from user text.
_ESCAPED: dict[str, bytes] = {}
_ESCAPED_LIMIT = 20_000


def escaped(token: str) -> bytes:
    """``token`` as JSON string bytes, cached."""
    cached = _ESCAPED.get(token)
    if cached is None:
        cached = json.dumps(token).encode()
        if len(_ESCAPED) < _ESCAPED_LIMIT:
            _ESCAPED[token] = cached
    return cached
