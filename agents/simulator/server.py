"""``LLMSimulator``: the HTTP/1.1 server, its connections, routing and endpoints.

Each connection is one task that reads a request, answers it and, with keep-alive, waits
for the next. A streamed reply is handed to the simulator's ``Pacer``, which writes its
tokens on schedule, so all streams share one loop timer instead of sleeping per token.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import random
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from agents.simulator.completions import (
    InvalidRequest,
    ReplyPlan,
    chat_arguments,
    chat_tools,
    completion_document,
    model_name,
    plan_reply,
    stream_frames,
    stream_head,
    tool_call_frames,
    wants_usage,
)
from agents.simulator.config import SimulatorConfig, client_host, control_apply, control_view
from agents.simulator.pacing import FrameStream, Pacer, TokenStream
from agents.simulator.script import Overrides, parse_markers
from agents.simulator.stats import SimStats
from agents.simulator.text import EMBEDDING_DIMS, last_user_text, simulated_embedding
from agents.simulator.tools import simulated_tool_calls
from agents.simulator.wire import HttpError, Request, error_body, read_request, send_json

Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[bool]]


class LLMSimulator:
    """The simulator server. ``await start()``, then ``await close()``."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.stats = SimStats()
        self._error_rng = random.Random(self.config.seed)  # noqa: S311
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._pacer_instance: Pacer | None = None
        self.port: int = self.config.port

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> asyncio.Server:
        """Listen; with ``port=0`` the chosen port is then in ``self.port``."""
        self._server = await asyncio.start_server(
            self._handle_connection,
            self.config.host,
            self.config.port,
            # The default backlog overflows when a benchmark opens hundreds of connections
            # at once, and a client retries an overflowed SYN only after a whole second.
            backlog=4096,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self._server

    async def close(self) -> None:
        """Stop listening and drop every connection, including idle keep-alive ones."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _pacer(self, loop: asyncio.AbstractEventLoop) -> Pacer:
        # Created lazily: the simulator object may be built outside the loop it serves on.
        if self._pacer_instance is None:
            self._pacer_instance = Pacer(loop)
        return self._pacer_instance

    @property
    def base_url(self) -> str:
        """OpenAI ``base_url`` for clients, e.g. ``http://127.0.0.1:8001/v1``."""
        return f"{client_host(self.config.host)}:{self.port}/v1"

    # -- connection loop ---------------------------------------------------------------------

    async def _handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        self.stats.connections += 1
        try:
            while True:
                try:
                    request = await read_request(reader, writer)
                except HttpError as exc:
                    send_json(
                        writer,
                        exc.status,
                        error_body(exc.message, "invalid_request_error", "bad_request"),
                        keep_alive=False,
                    )
                    break
                if request is None:
                    break
                keep_alive = await self._dispatch(request, writer)
                if not keep_alive or writer.transport.is_closing():
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-request; nothing to answer
        except asyncio.CancelledError:
            # close() cancels us on shutdown. Ending normally matters on Python 3.11, whose
            # StreamReaderProtocol callback calls task.exception() and would log a traceback.
            if not self._closing:
                raise
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _dispatch(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; return whether the connection may serve another one."""
        path = request.path.rstrip("/") or "/"
        method = request.method
        keep_alive = request.keep_alive

        if path.startswith("/sim/"):
            if path == "/sim/stats" and method == "GET":
                send_json(writer, 200, self.stats.snapshot(), keep_alive=keep_alive)
            elif path == "/sim/stats/reset" and method == "POST":
                self.stats.reset()
                send_json(writer, 200, {"reset": True}, keep_alive=keep_alive)
            elif path == "/sim/control" and method in ("GET", "POST"):
                self._control(request, writer)
            else:
                self._not_found(writer, request)
            return keep_alive

        self.stats.requests += 1
        entry = self._route(path[3:] if path.startswith("/v1/") else path)
        if entry is None:
            self._not_found(writer, request)
        elif method != entry[0]:
            message = f"Method {method} not allowed on {request.path}."
            self._send_error(writer, request, 405, message, "method_not_allowed")
        elif not self._authorized(request):
            message = "Incorrect API key provided."
            self._send_error(writer, request, 401, message, "invalid_api_key")
        else:
            return await entry[1](request, writer)
        return keep_alive

    def _control(self, request: Request, writer: asyncio.StreamWriter) -> None:
        """``GET``: the settings a test may change; ``POST``: change some of them."""
        if request.method == "POST":
            changes = self._parse_json_body(request, writer)
            if changes is None:
                return
            try:
                self.config = control_apply(self.config, changes)
            except (TypeError, ValueError) as exc:
                self._bad_request(writer, request, f"Cannot apply: {exc}.")
                return
        send_json(writer, 200, control_view(self.config), keep_alive=request.keep_alive)

    def _route(self, route: str) -> tuple[str, Handler] | None:
        """The method and handler for a path without the optional ``/v1`` prefix."""
        handlers: dict[str, tuple[str, Handler]] = {
            "/chat/completions": ("POST", self._chat_completions),
            "/embeddings": ("POST", self._embeddings),
            "/models": ("GET", self._models),
        }
        entry = handlers.get(route)
        if entry is None and route.startswith("/models/"):
            entry = ("GET", self._model)
        return entry

    def _authorized(self, request: Request) -> bool:
        if self.config.api_key is None:
            return True
        supplied = request.headers.get("authorization", "")
        return hmac.compare_digest(supplied.encode(), f"Bearer {self.config.api_key}".encode())

    # -- error responses ---------------------------------------------------------------------

    def _send_error(
        self,
        writer: asyncio.StreamWriter,
        request: Request,
        status: int,
        message: str,
        code: str,
        type_: str = "invalid_request_error",
    ) -> None:
        payload = error_body(message, type_, code)
        send_json(writer, status, payload, keep_alive=request.keep_alive)

    def _not_found(self, writer: asyncio.StreamWriter, request: Request) -> None:
        message = f"Unknown path {request.method} {request.path}."
        self._send_error(writer, request, 404, message, "not_found")

    def _bad_request(self, writer: asyncio.StreamWriter, request: Request, message: str) -> None:
        self._send_error(writer, request, 400, message, "invalid_request")

    def _parse_json_body(
        self, request: Request, writer: asyncio.StreamWriter
    ) -> dict[str, Any] | None:
        """The JSON object body, or None after answering 400."""
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            message = f"We could not parse the JSON body of your request: {exc}"
            self._send_error(writer, request, 400, message, "invalid_json")
            return None
        if not isinstance(payload, dict):
            self._bad_request(writer, request, "The request body must be a JSON object.")
            return None
        return payload

    # -- models and embeddings ---------------------------------------------------------------

    async def _models(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        payload = {"object": "list", "data": [_model_object(self.config.model)]}
        send_json(writer, 200, payload, keep_alive=request.keep_alive)
        return request.keep_alive

    async def _model(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        model_id = request.path.rstrip("/").split("/models/", 1)[1]
        send_json(writer, 200, _model_object(model_id), keep_alive=request.keep_alive)
        return request.keep_alive

    async def _embeddings(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        payload = self._parse_json_body(request, writer)
        if payload is None:
            return request.keep_alive
        texts = _embedding_inputs(payload.get("input"))
        if texts is None:
            self._bad_request(
                writer, request, "'input' must be a string, a list of strings or token arrays."
            )
            return request.keep_alive
        dims = payload.get("dimensions", EMBEDDING_DIMS)
        if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= 4096:
            self._bad_request(writer, request, "'dimensions' must be an integer in 1..4096.")
            return request.keep_alive
        as_base64 = payload.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = simulated_embedding(text, dims)
            encoded: Any = (
                base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(max(1, len(text.split())) for text in texts)
        response = {
            "object": "list",
            "data": data,
            "model": model_name(payload, self.config.model),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        send_json(writer, 200, response, keep_alive=request.keep_alive)
        return request.keep_alive

    # -- chat completions --------------------------------------------------------------------

    async def _chat_completions(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        keep_alive = request.keep_alive
        payload = self._parse_json_body(request, writer)
        if payload is None:
            return keep_alive
        try:
            messages, max_tokens = chat_arguments(payload)
            tools = chat_tools(payload)
        except InvalidRequest as exc:
            self._bad_request(writer, request, str(exc))
            return keep_alive
        overrides = parse_markers(last_user_text(messages))
        if self._inject_error(overrides):
            self.stats.errors += 1
            message = "The simulator injected a server error."
            self._send_error(writer, request, 500, message, "simulated_error", "server_error")
            return keep_alive
        drop_rate = self.config.drop_rate
        plan = plan_reply(
            self.config, payload, messages, max_tokens, overrides, request.received_at,
            dropped=drop_rate > 0.0 and self._error_rng.random() < drop_rate,
            calls=simulated_tool_calls(messages, tools) if tools else None,
        )  # fmt: skip
        if payload.get("stream"):
            usage = plan.usage if wants_usage(payload) else None
            return await self._stream(writer, request, plan, usage)
        return await self._complete(writer, request, plan)

    def _inject_error(self, overrides: Overrides) -> bool:
        """Whether this chat completion fails with HTTP 500 (marker or ``error_rate``)."""
        # Only draw from the seeded RNG when error_rate is on, so the sequence of injected
        # errors depends on the seed and the request order alone.
        error_rate = self.config.error_rate
        return overrides.error or (error_rate > 0.0 and self._error_rng.random() < error_rate)

    async def _complete(
        self, writer: asyncio.StreamWriter, request: Request, plan: ReplyPlan
    ) -> bool:
        """Send a non-streamed reply when its last token would have been written."""
        loop = asyncio.get_running_loop()
        if plan.drop is not None:
            # Non-streamed drop: the upstream dies while "generating"; the client sees the
            # connection close without any response.
            due = plan.t_first + max(0, plan.drop - 1) * plan.interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.transport.abort()
            self.stats.drops += 1
            return False
        due = plan.t_first + max(0, plan.count - 1) * plan.interval
        await asyncio.sleep(max(0.0, due - loop.time()))
        send_json(writer, 200, completion_document(plan), keep_alive=request.keep_alive)
        return request.keep_alive

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        request: Request,
        plan: ReplyPlan,
        usage: dict[str, int] | None,
    ) -> bool:
        """Stream a reply: headers and role chunk now, tokens as the ``Pacer`` runs them."""
        keep_alive = request.keep_alive
        loop = asyncio.get_running_loop()
        stream: TokenStream
        if plan.tool_calls:
            opening, frames, tail = tool_call_frames(plan.model, plan.tool_calls, usage)
            stream = FrameStream(
                loop, writer.transport, self.stats, frames, plan.t_first, plan.interval,
                plan.drop, tail,
            )  # fmt: skip
        else:
            prefix, suffix, opening, tail = stream_frames(plan.model, plan.finish_reason, usage)
            stream = TokenStream(
                loop,
                writer.transport,
                self.stats,
                prefix,
                suffix,
                plan.tokens,
                plan.count,
                plan.t_first,
                plan.interval,
                plan.drop,
                tail,
            )
        writer.write(stream_head(keep_alive) + opening)
        self.stats.streams += 1
        self.stats.active_streams += 1
        try:
            self._pacer(loop).add(stream)
            outcome = await stream.done
        finally:
            stream.cancel()  # no-op unless we were cancelled (server shutdown)
            self.stats.active_streams -= 1
        return keep_alive and outcome == "done"


def _model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "orion-sim"}


def _embedding_inputs(value: Any) -> list[str] | None:
    """The texts to embed: a string, strings, or token arrays (as space-joined numbers)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return list(value)
        if all(isinstance(v, int) for v in value):  # one pre-tokenised input
            return [" ".join(map(str, value))]
        if all(isinstance(v, list) and all(isinstance(t, int) for t in v) for v in value):
            return [" ".join(map(str, v)) for v in value]
    return None
