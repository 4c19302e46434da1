"""The HTTP clients that reach a provider: made once per event loop and provider.

- The streamed chat completion goes through an aiohttp ``ClientSession``: proxies from
  the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``), TLS checked against
  the system's CA store, keep-alive connections up to a cap, a connect timeout (waiting
  for a free connection included) and a read timeout between two reads.
- The non-streamed completion goes through an ``openai.AsyncOpenAI`` with the same
  timeouts, TLS and proxies, and no retries of its own (``agents.providers.retries``
  decides).

Both are opened on first use, never ahead: an idle server holds no model connection.
Connections belong to the event loop that opened them, hence one set per loop. A loop's
clients are closed when its pending tasks are cancelled at its end, as ``asyncio.run``,
asgiref and pytest-asyncio do; a server process's loop runs until the process exits, and
its connections close with it.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from dataclasses import dataclass, field
from functools import cache

import aiohttp
import openai
from yarl import URL

from agents.providers.config import ProviderConfig

# Above the several hundred replies one process streams at once (a reply holds one
# connection throughout), while still bounding the sockets a stalled provider can pile up.
CONNECTION_LIMIT = 1000
# Idle connections are kept this long for the next question: a new one costs a TCP (and TLS)
# handshake on both sides. A server that closes an idle connection first makes the next
# request on it fail before any answer, which the retry policy sends again.
KEEPALIVE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class StreamClient:
    """What a streamed call to one provider needs, worked out once."""

    session: aiohttp.ClientSession
    url: URL  # <base_url>/chat/completions


@dataclass(slots=True)
class _LoopClients:
    streams: dict[ProviderConfig, StreamClient] = field(default_factory=dict)
    sdks: dict[ProviderConfig, openai.AsyncOpenAI] = field(default_factory=dict)
    closer: asyncio.Task[None] | None = None  # held here: the loop keeps only weak references

    async def aclose(self) -> None:
        for stream in self.streams.values():
            await stream.session.close()
        for sdk in self.sdks.values():
            await sdk.close()


_clients: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


@cache
def tls_context() -> ssl.SSLContext:
    """TLS settings for every provider: the system's CA store, Python's safe defaults."""
    return ssl.create_default_context()


def stream_client(config: ProviderConfig) -> StreamClient:
    """The aiohttp session (and URL) for streamed calls to ``config`` on this loop."""
    clients = _loop_clients()
    client = clients.streams.get(config)
    if client is None:
        url = URL(config.base_url.rstrip("/") + "/chat/completions")
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=CONNECTION_LIMIT, keepalive_timeout=KEEPALIVE_SECONDS, ssl=tls_context()
            ),
            timeout=aiohttp.ClientTimeout(
                total=None, connect=config.connect_timeout, sock_read=config.timeout
            ),
            headers={
                "Authorization": f"Bearer {config.api_key}",
                "Content-Type": "application/json",
                "Accept": "text/event-stream",
            },
            proxy=env_proxy(url),
        )
        client = clients.streams[config] = StreamClient(session=session, url=url)
    return client


def env_proxy(url: URL) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``NO_PROXY``), read once per provider: aiohttp's ``trust_env`` looks it up, and
    ``~/.netrc``, on a worker thread for every request."""
    if not url.host or urllib.request.proxy_bypass(url.host):
        return None
    return urllib.request.getproxies().get(url.scheme)


def sdk_client(config: ProviderConfig) -> openai.AsyncOpenAI:
    """The SDK client for non-streamed calls to ``config`` on this loop."""
    clients = _loop_clients()
    sdk = clients.sdks.get(config)
    if sdk is None:
        timeout = openai.Timeout(config.timeout, connect=config.connect_timeout)
        sdk = clients.sdks[config] = openai.AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key,
            timeout=timeout,
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(
                verify=tls_context(), timeout=timeout, trust_env=True
            ),
        )
    return sdk


def _loop_clients() -> _LoopClients:
    loop = asyncio.get_running_loop()
    clients = _clients.get(loop)
    if clients is None:
        for old in list(_clients):  # (a copy: threads with loops of their own add to it)
            if old.is_closed():  # closed without cancelling its tasks: let its clients go
                _clients.pop(old, None)
        clients = _clients[loop] = _LoopClients()
        clients.closer = loop.create_task(
            _close_at_shutdown(loop, clients), name="orion-model-clients"
        )
    return clients


async def _close_at_shutdown(loop: asyncio.AbstractEventLoop, clients: _LoopClients) -> None:
    try:
        await loop.create_future()  # never set: only the loop's shutdown ends this wait
    except asyncio.CancelledError:
        await clients.aclose()
        raise
    finally:  # (a loop closed without cancelling its tasks just lets its clients go)
        if _clients.get(loop) is clients:
            _clients.pop(loop, None)
