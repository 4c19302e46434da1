"""The lean HTTP/1.1 transport, against hand-written servers and the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2 as httpx
import pytest

from agents.simulator import SimulatorThread
from agents.transport import LeanTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


async def fetch(url: str, *, timeout: float = 5, **kw: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=LeanTransport(), timeout=timeout) as client:
        response = await client.post(url, content=b'{"x": 1}', **kw)  # type: ignore[arg-type]
        await response.aread()
        return response


def replying(*pieces: bytes, delay: float = 0.0, close: bool = False) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(delay)
        if close:
            writer.close()

    return handler


async def test_a_chunked_body_split_across_reads_comes_out_whole() -> None:
    body = b"5\r\nhel", b"lo\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    server, url = await serve(replying(head, *body, delay=0.01))
    async with server:
        response = await fetch(url)
    assert response.status_code == 200 and response.content == b"hello world"


async def test_a_content_length_body_and_headers_come_through() -> None:
    head = b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Thing: yes\r\n\r\n"
    server, url = await serve(replying(head, b"ab", b"cde", delay=0.01))
    async with server:
        response = await fetch(url)
    assert (response.status_code, response.content, response.headers["x-thing"]) == (
        201,
        b"abcde",
        "yes",
    )


async def test_a_body_without_length_runs_until_the_server_closes() -> None:
    server, url = await serve(replying(b"HTTP/1.1 200 OK\r\n\r\n", b"all ", b"of it", close=True))
    async with server:
        assert (await fetch(url)).content == b"all of it"


async def test_a_stream_cut_mid_way_is_a_protocol_error() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    server, url = await serve(replying(head, close=True))
    async with server:
        with pytest.raises(httpx.RemoteProtocolError):
            await fetch(url)


async def test_garbage_instead_of_http_is_a_protocol_error() -> None:
    server, url = await serve(replying(b"SSH-2.0-OpenSSH\r\n\r\n", close=True))
    async with server:
        with pytest.raises(httpx.RemoteProtocolError):
            await fetch(url)


async def test_a_silent_server_times_out() -> None:
    server, url = await serve(replying(b"HTTP/1.1 200 OK\r\n", delay=2))
    async with server:
        with pytest.raises(httpx.ReadTimeout):
            await fetch(url, timeout=0.2)


async def test_nobody_listening_is_a_connect_error() -> None:
    server, url = await serve(replying())
    server.close()
    await server.wait_closed()
    with pytest.raises(httpx.ConnectError):
        await fetch(url)


async def test_connections_are_reused_and_a_stale_one_is_replaced() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        for _ in range(2):  # serve two requests, then hang up on the third
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    server, url = await serve(handler)
    async with server, httpx.AsyncClient(transport=LeanTransport()) as client:
        for _ in range(5):
            assert (await client.post(url, content=b"{}")).content == b"ok"
    assert connections == 3


async def test_a_prepared_post_sends_its_head_once_worked_out_with_each_body() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                seen.append(await read_request(reader))
            except asyncio.IncompleteReadError:
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server, url = await serve(handler)
    transport = LeanTransport()
    async with server:
        prepared = transport.prepare_post(
            httpx.URL(url + "/v1/chat/completions"),
            # A stale length among the headers must not reach the wire: each body has its own.
            httpx.Headers({"Authorization": "Bearer k", "Content-Length": "99"}),
            {"connect": 5.0, "read": 5.0, "write": 5.0},
        )
        for body in (b'{"a": 1}', b'{"bb": 22}'):
            response = await transport.post(prepared, body)
            assert response.status_code == 200 and await response.aread() == b"ok"
        await transport.aclose()
    host = url.removeprefix("http://").encode()
    assert seen == [
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: " + host + b"\r\n"
        b"Authorization: Bearer k\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        for body in (b'{"a": 1}', b'{"bb": 22}')
    ]


async def test_the_simulator_streams_through_it(simulator: SimulatorThread) -> None:
    import openai

    client = openai.AsyncOpenAI(
        base_url=simulator.base_url,
        api_key="x",
        http_client=httpx.AsyncClient(transport=LeanTransport()),
    )
    stream = await client.chat.completions.create(
        model="orion-sim-1", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks: AsyncIterator[object] = stream  # type: ignore[assignment]
    texts = [c.choices[0].delta.content async for c in chunks if c.choices]  # type: ignore[attr-defined]
    await client.close()
    assert len([t for t in texts if t]) == 30


async def test_connections_opened_ahead_serve_the_requests_that_follow() -> None:
    connections = 0
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while not reader.at_eof():
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            writer.write(answer)

    server, url = await serve(handler)
    transport = LeanTransport()
    async with server, httpx.AsyncClient(transport=transport) as client:
        transport.preconnect(httpx.URL(url), 3, timeout=5)
        transport.preconnect(httpx.URL(url), 3, timeout=5)  # already on their way: no more
        for _ in range(50):
            if connections == 3:
                break
            await asyncio.sleep(0.01)
        responses = await asyncio.gather(*(client.post(url, content=b"{}") for _ in range(3)))
        assert [r.content for r in responses] == [b"ok"] * 3
    assert connections == 3  # the requests went over the connections opened ahead


async def test_opening_ahead_to_a_server_that_is_down_is_left_to_the_request() -> None:
    transport = LeanTransport()
    server, url = await serve(replying())
    server.close()
    await server.wait_closed()
    transport.preconnect(httpx.URL(url), 2, timeout=1)
    await asyncio.sleep(0.1)  # the attempts fail quietly
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(url, content=b"{}")
