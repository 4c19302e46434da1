"""A lean HTTP/1.1 transport for the model client's hot path.

The OpenAI SDK sends through an ``httpx`` client, which by default goes through
httpcore, h11 and anyio: several layers of Python per network read. At 100 concurrent
streams those layers cost a core on their own (see bench/README.md). This transport
speaks plain HTTP/1.1 with keep-alive on asyncio streams (TLS included) and returns
ordinary ``httpx`` responses: the SDK's client runs on it unchanged, and the streamed
chat call (``agents.providers``) hands it requests directly. It can open connections
ahead of requests that are about to be sent (``preconnect``).

It does not do HTTP proxies or HTTP/2: set ``ORION_MODEL_HTTP=httpx`` to use httpx's
own stack where those are needed.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2 as httpx

_MAX_HEADER_BYTES = 64 * 1024


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    buffer: bytearray = field(default_factory=bytearray)

    def close(self) -> None:
        self.writer.close()


class Timeouts:
    """Connect, read and write timeouts in seconds (None: no limit), as httpx names them."""

    __slots__ = ("connect", "read", "write")

    def __init__(self, timeout: dict[str, float | None] | None) -> None:
        timeout = timeout or {}
        self.connect: float | None = timeout.get("connect")
        self.read: float | None = timeout.get("read")
        self.write: float | None = timeout.get("write")


@dataclass(frozen=True)
class PreparedPost:
    """A POST whose request line and headers are worked out once and sent many times with
    different bodies (see ``LeanTransport.post``)."""

    origin: tuple[str, str, int]
    head: bytes  # request line and headers, without Content-Length and the blank line
    timeouts: Timeouts

    def message(self, body: bytes) -> bytes:
        return _message(self.head, body)


def _request_head(method: bytes, url: httpx.URL, headers: httpx.Headers) -> bytes:
    """Request line and headers, without Content-Length (``_message`` adds the body's own)
    and the blank line."""
    lines = [method + b" " + (url.raw_path or b"/") + b" HTTP/1.1"]
    if "host" not in headers:
        lines.append(b"Host: " + url.netloc)
    for name, value in headers.raw:
        if name.lower() not in (b"content-length", b"transfer-encoding"):
            lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n"


def _message(head: bytes, body: bytes) -> bytes:
    """A whole request: the head from ``_request_head`` and the body, read in full."""
    return b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive connections per origin; raises httpx's own exception types."""

    def __init__(self, *, max_idle_per_origin: int = 512) -> None:
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._opening: dict[tuple[str, str, int], int] = {}
        self._max_idle = max_idle_per_origin
        self._ssl: ssl.SSLContext | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @staticmethod
    def _origin(url: httpx.URL) -> tuple[str, str, int]:
        return (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))

    def preconnect(self, url: httpx.URL, count: int, *, timeout: float | None) -> None:
        """Open connections to ``url``'s server in the background, until ``count`` are idle
        or on their way. Requests about to be sent then find one ready (a TCP and TLS
        handshake costs a round trip or three, and CPU the event loop can spend now).
        Failures are left for the request itself to meet and report."""
        origin = self._origin(url)
        missing = count - len(self._idle.get(origin, ())) - self._opening.get(origin, 0)
        for _ in range(max(0, min(missing, self._max_idle))):
            self._opening[origin] = self._opening.get(origin, 0) + 1
            task = asyncio.create_task(self._open_idle(origin, timeout))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _open_idle(self, origin: tuple[str, str, int], timeout: float | None) -> None:
        try:
            connection = await self._connect(origin, timeout)
        except httpx.TransportError:
            return
        finally:
            self._opening[origin] -= 1
        self.release(origin, connection)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        head = _request_head(request.method.encode(), request.url, request.headers)
        return await self._exchange(
            self._origin(request.url),
            _message(head, body),
            Timeouts(request.extensions.get("timeout")),
        )

    def prepare_post(
        self, url: httpx.URL, headers: httpx.Headers, timeout: dict[str, float | None]
    ) -> PreparedPost:
        """For ``post``: the same request to ``url`` with ``headers``, again and again."""
        return PreparedPost(
            self._origin(url), _request_head(b"POST", url, headers), Timeouts(timeout)
        )

    async def post(self, prepared: PreparedPost, body: bytes) -> httpx.Response:
        """Send ``body`` as a prepared POST: what ``handle_async_request`` does, without
        building an ``httpx.Request`` (a third of the CPU a streamed call costs to open)."""
        return await self._exchange(prepared.origin, prepared.message(body), prepared.timeouts)

    async def _exchange(
        self, origin: tuple[str, str, int], message: bytes, timeouts: Timeouts
    ) -> httpx.Response:
        # A pooled connection may have been closed by the server since: retry once on a
        # fresh one (the request has not been seen if the write or first read fails).
        for attempt in (0, 1):
            connection = self._idle_connection(origin) if attempt == 0 else None
            reused = connection is not None
            if connection is None:
                connection = await self._connect(origin, timeouts.connect)
            try:
                connection.writer.write(message)
                status, headers = await self._read_head(connection, timeouts)
                break
            except (httpx.ReadError, httpx.RemoteProtocolError, ConnectionError):
                connection.close()
                if not reused:
                    raise
        else:  # pragma: no cover - the loop always breaks or raises
            raise httpx.RemoteProtocolError("no response")
        return httpx.Response(
            status,
            headers=headers,
            stream=_Body(self, origin, connection, headers, timeouts),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    # --- connections ------------------------------------------------------------------------

    def _idle_connection(self, origin: tuple[str, str, int]) -> _Connection | None:
        connections = self._idle.get(origin)
        while connections:
            connection = connections.pop()
            if not connection.reader.at_eof() and not connection.writer.is_closing():
                return connection
            connection.close()
        return None

    def release(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        connections = self._idle.setdefault(origin, [])
        if len(connections) < self._max_idle and not connection.buffer:
            connections.append(connection)
        else:
            connection.close()

    async def _connect(self, origin: tuple[str, str, int], timeout: float | None) -> _Connection:
        scheme, host, port = origin
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, limit=_MAX_HEADER_BYTES
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return _Connection(reader, writer)

    # --- messages ---------------------------------------------------------------------------

    @staticmethod
    async def _read_head(
        connection: _Connection, timeouts: Timeouts
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        try:
            async with asyncio.timeout(timeouts.read):
                raw = await connection.reader.readuntil(b"\r\n\r\n")
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the model server sent no response in time") from exc
        except asyncio.IncompleteReadError as exc:
            raise httpx.RemoteProtocolError("the model server closed the connection") from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx.RemoteProtocolError("response headers too large") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from exc
        status_line, *header_lines = raw[:-4].split(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise httpx.RemoteProtocolError("malformed status line")
        try:
            status = int(parts[1])
        except ValueError as exc:
            raise httpx.RemoteProtocolError("malformed status code") from exc
        headers = []
        for line in header_lines:
            name, sep, value = line.partition(b":")
            if not sep:
                raise httpx.RemoteProtocolError("malformed header line")
            headers.append((name.strip(), value.strip()))
        return status, headers


class _Body(httpx.AsyncByteStream):
    """The response body: Content-Length, chunked, or until the server closes."""

    def __init__(
        self,
        transport: LeanTransport,
        origin: tuple[str, str, int],
        connection: _Connection,
        headers: list[tuple[bytes, bytes]],
        timeouts: Timeouts,
    ) -> None:
        self._transport = transport
        self._origin = origin
        self._connection: _Connection | None = connection
        self._timeouts = timeouts
        values = {name.lower(): value for name, value in headers}
        self._chunked = b"chunked" in values.get(b"transfer-encoding", b"").lower()
        length = values.get(b"content-length")
        self._length = int(length) if length is not None and not self._chunked else None
        self._keep_alive = values.get(b"connection", b"").lower() != b"close" and (
            self._chunked or self._length is not None
        )

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            raise httpx.StreamClosed()
        try:
            if self._chunked:
                async for data in self._chunks(connection):
                    yield data
            elif self._length is not None:
                remaining = self._length
                while remaining:
                    data = await self._read(connection, min(remaining, 65536))
                    if not data:
                        raise httpx.RemoteProtocolError("the body ended early")
                    remaining -= len(data)
                    yield data
            else:
                while data := await self._read(connection, 65536):
                    yield data
        except BaseException:
            self._discard()
            raise
        self._connection = None
        if self._keep_alive:
            self._transport.release(self._origin, connection)
        else:
            connection.close()

    async def _chunks(self, connection: _Connection) -> AsyncIterator[bytes]:
        buffer = connection.buffer
        while True:
            # Parse every complete chunk in the buffer and hand them over in one piece:
            # a streamed answer is mostly one small chunk per read.
            out = bytearray()
            while True:
                end = buffer.find(b"\r\n")
                if end < 0:
                    break
                size_field = bytes(buffer[:end]).split(b";", 1)[0].strip()
                try:
                    size = int(size_field, 16)
                except ValueError as exc:
                    raise httpx.RemoteProtocolError("malformed chunk size") from exc
                if size == 0:  # the last chunk, then optional trailers and a blank line
                    if buffer[end + 2 : end + 4] == b"\r\n":
                        stop = end + 4
                    else:
                        trailers_end = buffer.find(b"\r\n\r\n", end + 2)
                        if trailers_end < 0:
                            break
                        stop = trailers_end + 4
                    del buffer[:stop]
                    if out:
                        yield bytes(out)
                    return
                if len(buffer) < end + 2 + size + 2:
                    break
                out += buffer[end + 2 : end + 2 + size]
                del buffer[: end + 2 + size + 2]
            if out:
                yield bytes(out)
            data = await self._read(connection, 65536)
            if not data:
                raise httpx.RemoteProtocolError("the model server closed the stream mid-way")
            buffer += data

    async def _read(self, connection: _Connection, size: int) -> bytes:
        try:
            async with asyncio.timeout(self._timeouts.read):
                return await connection.reader.read(size)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the model server went quiet") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from exc

    def _discard(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def aclose(self) -> None:
        # Closed before the end (the caller stopped reading): the connection is mid-body.
        self._discard()
