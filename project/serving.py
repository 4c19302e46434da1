"""How Orion is served: uvicorn, on uvloop and httptools, with WebSockets by ``websockets``.

One process per core; a proxy in front balances them (README, "Running Orion for real").
The settings that matter to the chat are fixed here, so every way of starting the server
(``make run``, production, the benchmark, the browser tests) serves it the same way.
"""

from __future__ import annotations

import asyncio
import socket
from types import FrameType

import uvicorn
from django.conf import settings

from chat.live.lifecycle import replies_drain, sweep_forever

APP = "project.asgi:application"
# Larger WebSocket messages are refused by the server (close code 1009) before the app
# reads them; the app's own limit on a message (chat.validation) is lower and explains
# itself to the person.
WS_MAX_BYTES = 4 * 1024 * 1024
# Keep-alive pings to every open socket, and how long a silent peer may take to answer.
WS_PING_SECONDS = 20.0
# On SIGTERM or Ctrl-C, once the replies have been drained (``OrionServer.shutdown``):
# sockets are closed (1012, "restarting") and the requests in progress get this long to end.
GRACEFUL_SECONDS = 10


def server_config(*, host: str, port: int, proxy_headers: bool = False) -> uvicorn.Config:
    """The server for ``host:port``. With ``proxy_headers``, the client address and scheme
    come from ``X-Forwarded-For``/``X-Forwarded-Proto``, but only on connections from the
    addresses in ``ORION_TRUSTED_PROXIES``; the address taken is the nearest one that is
    not a trusted proxy, so a client cannot choose its own by sending the header."""
    return uvicorn.Config(
        APP,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        lifespan="off",  # Django has no lifespan events
        proxy_headers=proxy_headers,
        forwarded_allow_ips=list(settings.ORION_TRUSTED_PROXIES) if proxy_headers else [],
        ws_max_size=WS_MAX_BYTES,
        ws_ping_interval=WS_PING_SECONDS,
        ws_ping_timeout=WS_PING_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        server_header=False,
        access_log=False,
        log_config=None,  # Django's LOGGING applies
    )


class OrionServer(uvicorn.Server):
    """uvicorn's server, with the replies' side of starting and stopping.

    - Started: it sweeps for replies whose process died (``chat.live.lifecycle``).
    - Stopped (SIGTERM, Ctrl-C): it stops listening and taking sends, lets the replies in
      progress finish for ``ORION_SHUTDOWN_GRACE_SECONDS`` (a second signal cuts that
      short), stores the rest as interrupted, and only then closes the sockets.
    """

    housekeeping: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn hurries only on a second Ctrl-C; a second SIGTERM must do the same.
        if self.should_exit:
            self.force_exit = True
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:  # (it could not listen)
            self.housekeeping = asyncio.create_task(sweep_forever())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        try:
            await replies_drain(
                grace=settings.ORION_SHUTDOWN_GRACE_SECONDS, hurry=lambda: self.force_exit
            )
        finally:
            if self.housekeeping is not None:
                self.housekeeping.cancel()
                await asyncio.gather(self.housekeeping, return_exceptions=True)
            await super().shutdown(sockets=sockets)
