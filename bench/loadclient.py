"""Load-client worker processes: browser-like WebSocket chats, the direct-API baseline, and
idle pages.

Each worker is started by ``bench/run.py`` (multiprocessing, spawn). The protocol is the
same for chats and the baseline:

1. open every connection (sockets to the app, or a warm HTTP keep-alive pool to the
   simulator), then wait on ``ready`` (a barrier shared with the harness and every worker);
2. wait on ``go``; the harness has by then put one shared start time in ``start_at``
   (``time.monotonic()``, the same clock in every process on Linux);
3. at that instant send everything, read every stream to its end (bounded by ``timeout``)
   and put one ``WorkerReport`` on the queue, with this process's CPU time over the run.

Times are taken with ``time.monotonic()`` in the worker itself, so send and receive times
of a chat always come from the same clock.

Idle pages (``idle_worker``, for ``bench/idle.py``) open their sockets and send nothing;
their steps are in ``IdleSync``.

``warm_up`` (chats one after another) and ``burst`` (chats all at once) run untimed chats in
the harness's own process, before the timed run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from procs import die_with_parent, raise_nofile

# Frame shapes (templates/chat/ws/): a delta appends to the reply body; every other frame
# that matters carries the assistant article with its status.
DELTA_PREFIX = b'<div hx-swap-oob="beforeend:#msg-'
ASSISTANT_STATUS = re.compile(rb'class="message assistant"[^>]*data-status="(\w+)"')
COMPOSER_ERROR = re.compile(rb'id="composer-error"[^>]*>([^<]*)<')


class Barrier(Protocol):
    def wait(self, timeout: float | None = None) -> int: ...

    def abort(self) -> None: ...


class SharedFloat(Protocol):
    value: float


class Queue(Protocol):
    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None: ...


@dataclass
class StreamResult:
    """One chat (or one baseline request), times in seconds on the worker's monotonic clock."""

    ok: bool = False
    t_send: float | None = None
    t_ack: float | None = None  # first frame after the send (the app: the exchange frame)
    t_first: float | None = None  # first frame/chunk that shows reply text
    t_done: float | None = None  # final frame / end of stream
    frames: int = 0  # frames (chunks for the baseline) from send to done, both included
    error: str = ""


@dataclass
class WorkerReport:
    worker: int
    results: list[StreamResult] = field(default_factory=list)
    cpu_s: float = 0.0  # this process's CPU time from the start instant to its last stream's end
    wall_s: float = 0.0
    connect_s: float = 0.0  # time it took to open every connection
    send_spread_s: float = 0.0  # first send to last send of this process
    fatal: str = ""  # the worker itself broke (traceback)


@dataclass(frozen=True)
class Sync:
    ready: Barrier
    go: Barrier
    start_at: SharedFloat
    queue: Queue
    barrier_timeout: float


async def _barrier(barrier: Barrier, timeout: float) -> None:
    # In a thread, so the event loop keeps serving the open connections meanwhile.
    await asyncio.to_thread(barrier.wait, timeout)


def _freeze_heap() -> None:
    """Everything set up so far stays for the run: keep it out of the collector's full
    scans, which would otherwise pause this client mid-measurement (tens of ms)."""
    gc.collect()
    gc.freeze()


async def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0.002:
        await asyncio.sleep(delay - 0.001)
    while time.monotonic() < when:  # the last millisecond: asyncio timers are ~1 ms coarse
        pass


class Reporter:
    """Puts exactly one report per worker on the harness's queue."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.sent = False

    def send(self, report: WorkerReport | IdleReport) -> None:
        if not self.sent:
            self.sent = True
            self.queue.put(report, timeout=30)


def _run_worker(
    worker: int,
    barriers: tuple[Barrier, ...],
    queue: Queue,
    body: Callable[[Reporter], Coroutine[Any, Any, None]],
) -> None:
    """Run ``body`` to the end; a worker that breaks still reports (its traceback)."""
    die_with_parent()
    raise_nofile()  # inherited from the harness already; a worker holds thousands of sockets
    reporter = Reporter(queue)
    try:
        asyncio.run(body(reporter))
    except BaseException:  # reported to the harness, which fails the run loudly
        # Let the harness's barriers fail fast instead of waiting for their timeout.
        for barrier in barriers:
            with contextlib.suppress(Exception):
                barrier.abort()
        reporter.send(WorkerReport(worker=worker, fatal=traceback.format_exc()))


# --- WebSocket chats ------------------------------------------------------------------------


@dataclass
class ChatSpec:
    session: str
    conversation: str
    text: str
    port: int = 0  # the server process this chat talks to (0: the worker's port)
    delay: float = 0.0  # seconds after the shared instant at which it sends


async def _finish(
    report: WorkerReport,
    tasks: list[asyncio.Task[None]],
    start_at: float,
    timeout: float,
    cpu0: float,
    unfinished: str,
) -> None:
    """Wait (bounded) for the streams, then stamp the report's times and the stragglers."""
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=start_at + timeout - time.monotonic())
        for task in pending:
            task.cancel()
    report.cpu_s = time.process_time() - cpu0
    report.wall_s = time.monotonic() - start_at
    for result in report.results:
        if not result.ok and not result.error:
            result.error = f"{unfinished} within {timeout:g} s"


def ws_worker(
    worker: int, chats: list[ChatSpec], port: int, timeout: float, concurrency: int, sync: Sync
) -> None:
    """Process entry point: drive ``chats`` against the app on ``port``, opening at most
    ``concurrency`` sockets at a time."""

    async def body(reporter: Reporter) -> None:
        gate = asyncio.Semaphore(concurrency)
        await _ws_run(worker, chats, port, timeout, gate, sync, reporter)

    _run_worker(worker, (sync.ready, sync.go), sync.queue, body)


async def _ws_connect(spec: ChatSpec, port: int, gate: asyncio.Semaphore) -> Any:
    from websockets.asyncio.client import connect

    port = spec.port or port
    async with gate:
        return await connect(
            f"ws://127.0.0.1:{port}/ws/conversations/{spec.conversation}/",
            origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
            additional_headers={"Cookie": f"sessionid={spec.session}"},
            compression=None,  # as cheap as possible per frame
            max_size=None,
            ping_interval=None,  # the run is short; the server's pings are still answered
            open_timeout=30,
            close_timeout=2,
        )


async def _ws_read(ws: Any, result: StreamResult) -> None:
    """Read frames until the reply is complete or failed (or the socket closes)."""
    monotonic = time.monotonic
    try:
        while True:
            frame: bytes = await ws.recv(decode=False)
            now = monotonic()
            if result.t_send is None:
                continue  # nothing is expected before the send; not counted
            result.frames += 1
            if result.t_ack is None:
                result.t_ack = now
            if frame.startswith(DELTA_PREFIX):
                if result.t_first is None:
                    result.t_first = now
                continue
            status = ASSISTANT_STATUS.search(frame)
            if status is not None:
                value = status.group(1)
                if value == b"streaming":
                    if result.t_first is None:
                        result.t_first = now
                elif value == b"complete":
                    if result.t_first is None:
                        result.t_first = now
                    result.t_done = now
                    result.ok = True
                    return
                elif value != b"pending":
                    result.t_done = now
                    result.error = f"reply {value.decode()}"
                    return
                continue
            error = COMPOSER_ERROR.search(frame)
            if error is not None and error.group(1).strip():
                result.t_done = now
                result.error = "error frame: " + error.group(1).decode(errors="replace").strip()
                return
    except Exception as exc:  # closed socket and the like
        result.error = f"{type(exc).__name__}: {exc}"[:200]


def warm_up(chats: list[ChatSpec], port: int, timeout: float) -> list[StreamResult]:
    """Run ``chats`` one after another (in the calling process), each to its final frame."""

    async def run() -> list[StreamResult]:
        results = []
        gate = asyncio.Semaphore(1)
        for spec in chats:
            result = StreamResult()
            ws = await _ws_connect(spec, port, gate)
            try:
                reader = asyncio.create_task(_ws_read(ws, result))
                result.t_send = time.monotonic()
                await ws.send(json.dumps({"message": spec.text, "HEADERS": {}}))
                await asyncio.wait_for(reader, timeout)
            finally:
                await asyncio.wait_for(ws.close(), 10)
            results.append(result)
        return results

    return asyncio.run(run())


def burst(chats: list[ChatSpec], timeout: float, concurrency: int) -> list[StreamResult]:
    """Run ``chats`` all at once (in the calling process): open every socket (at most
    ``concurrency`` opening at a time, each on its chat's ``port``), send every message
    together, read each reply to its final frame (``timeout`` in all), close the sockets."""

    async def run() -> list[StreamResult]:
        gate = asyncio.Semaphore(concurrency)
        results = [StreamResult() for _ in chats]
        opened = await asyncio.gather(
            *(_ws_connect(spec, spec.port, gate) for spec in chats), return_exceptions=True
        )
        sockets = [ws for ws in opened if not isinstance(ws, BaseException)]
        try:
            readers = []
            for spec, ws, result in zip(chats, opened, results, strict=True):
                if isinstance(ws, BaseException):
                    result.error = f"connect: {type(ws).__name__}: {ws}"[:200]
                    continue
                readers.append(asyncio.create_task(_ws_read(ws, result)))
                result.t_send = time.monotonic()
                await ws.send(json.dumps({"message": spec.text, "HEADERS": {}}))
            if readers:
                _done, pending = await asyncio.wait(readers, timeout=timeout)
                for task in pending:
                    task.cancel()
        finally:
            closing = [ws.close() for ws in sockets]
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 10)
        for result in results:
            if not result.ok and not result.error:
                result.error = f"no final frame within {timeout:g} s"
        return results

    return asyncio.run(run())


async def _ws_run(
    worker: int,
    chats: list[ChatSpec],
    port: int,
    timeout: float,
    gate: asyncio.Semaphore,
    sync: Sync,
    reporter: Reporter,
) -> None:
    report = WorkerReport(worker=worker, results=[StreamResult() for _ in chats])
    t0 = time.monotonic()
    opened = await asyncio.gather(
        *(_ws_connect(spec, port, gate) for spec in chats), return_exceptions=True
    )
    report.connect_s = time.monotonic() - t0
    sockets: list[tuple[Any, StreamResult, str]] = []
    for spec, ws, result in zip(chats, opened, report.results, strict=True):
        if isinstance(ws, BaseException):
            result.error = f"connect: {type(ws).__name__}: {ws}"[:200]
        else:
            payload = json.dumps({"message": spec.text, "HEADERS": {}})
            sockets.append((ws, result, payload))
    try:
        _freeze_heap()
        await _barrier(sync.ready, sync.barrier_timeout)
        await _barrier(sync.go, sync.barrier_timeout)
        start_at = sync.start_at.value
        readers = [asyncio.create_task(_ws_read(ws, result)) for ws, result, _ in sockets]
        await _sleep_until(start_at)
        cpu0 = time.process_time()
        if any(spec.delay for spec in chats):
            delays = {id(r): spec.delay for spec, r in zip(chats, report.results, strict=True)}
            await _send_spread(sockets, delays, start_at)
        else:
            for ws, result, payload in sockets:
                result.t_send = time.monotonic()
                await ws.send(payload)  # a text frame, like htmx's ws-send
        if sockets:
            report.send_spread_s = time.monotonic() - start_at
        await _finish(report, readers, start_at, timeout, cpu0, "no final frame")
        # Report before hanging up: the harness reads the server's CPU time when it arrives.
        reporter.send(report)
    finally:
        closing = [ws.close() for ws, _, _ in sockets]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), timeout=10)


async def _send_spread(
    sockets: list[tuple[Any, StreamResult, str]], delays: dict[int, float], start_at: float
) -> None:
    """Each chat sends ``delays[id(its result)]`` seconds after the shared instant."""
    for ws, result, payload in sorted(sockets, key=lambda s: delays[id(s[1])]):
        await _sleep_until(start_at + delays[id(result)])
        result.t_send = time.monotonic()
        await ws.send(payload)


# --- idle pages: sockets opened, then left alone (bench/idle.py) ----------------------------


@dataclass(frozen=True)
class IdleSync:
    """The idle run's steps, each a barrier shared with the harness and every worker."""

    started: Barrier  # every worker is up: opening starts (the harness's clock for it too)
    opened: Barrier  # every socket is open or failed: the idle window starts
    measured: Barrier  # the harness has taken its readings: check the sockets, report
    queue: Queue
    barrier_timeout: float


@dataclass
class IdleReport:
    worker: int
    sockets: int = 0
    opened: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # why sockets did not open
    connect_s: float = 0.0  # time it took to open every socket
    cpu_open_s: float = 0.0  # this process's CPU time while opening
    cpu_idle_s: float = 0.0  # ... and over the idle window
    idle_wall_s: float = 0.0
    frames: int = 0  # frames the pages received over the idle window
    closed: int = 0  # sockets that were open and had closed by the window's end
    fatal: str = ""  # the worker itself broke (traceback)


def idle_worker(
    worker: int, chats: list[ChatSpec], port: int, concurrency: int, sync: IdleSync
) -> None:
    """Process entry point: open a page's socket for each of ``chats`` (at most
    ``concurrency`` opening at a time), keep them open and send nothing."""

    async def body(reporter: Reporter) -> None:
        await _idle_run(worker, chats, port, asyncio.Semaphore(concurrency), sync, reporter)

    _run_worker(worker, (sync.started, sync.opened, sync.measured), sync.queue, body)


async def _count_frames(ws: Any, counter: list[int]) -> None:
    """Read (and count) what the server sends; returns when the socket closes."""
    with contextlib.suppress(Exception):
        async for _frame in ws:
            counter[0] += 1


async def _open_all(
    report: IdleReport, chats: list[ChatSpec], port: int, gate: asyncio.Semaphore
) -> list[Any]:
    """Open every page's socket (bounded by ``gate``); failures are counted by reason."""
    t0, cpu0 = time.monotonic(), time.process_time()
    opened = await asyncio.gather(
        *(_ws_connect(spec, port, gate) for spec in chats), return_exceptions=True
    )
    report.connect_s = time.monotonic() - t0
    report.cpu_open_s = time.process_time() - cpu0
    sockets = [ws for ws in opened if not isinstance(ws, BaseException)]
    errors = Counter(  # grouped: long numbers (ports, ids) made alike, HTTP statuses kept
        re.sub(r"\d{4,}", "N", f"{type(ws).__name__}: {ws}")[:200]
        for ws in opened
        if isinstance(ws, BaseException)
    )
    report.opened, report.errors = len(sockets), dict(errors)
    return sockets


async def _idle_run(
    worker: int,
    chats: list[ChatSpec],
    port: int,
    gate: asyncio.Semaphore,
    sync: IdleSync,
    reporter: Reporter,
) -> None:
    report = IdleReport(worker=worker, sockets=len(chats))
    await _barrier(sync.started, sync.barrier_timeout)
    sockets = await _open_all(report, chats, port, gate)
    frames = [0]
    readers = [asyncio.create_task(_count_frames(ws, frames)) for ws in sockets]
    try:
        _freeze_heap()
        await _barrier(sync.opened, sync.barrier_timeout)
        cpu0, t0, frames0 = time.process_time(), time.monotonic(), frames[0]
        await _barrier(sync.measured, sync.barrier_timeout)
        report.cpu_idle_s = time.process_time() - cpu0
        report.idle_wall_s = time.monotonic() - t0
        report.frames = frames[0] - frames0
        report.closed = sum(reader.done() for reader in readers)
        reporter.send(report)
    finally:
        closing = [ws.close() for ws in sockets]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), timeout=20)
        for reader in readers:
            reader.cancel()


# --- the baseline: the same load straight from the simulator through the OpenAI SDK ---------


def api_worker(
    worker: int,
    texts: list[str],
    base_url: str,
    model: str,
    max_tokens: int,
    timeout: float,
    sync: Sync,
) -> None:
    """Process entry point: stream one chat completion per text, all at the start instant."""

    async def body(reporter: Reporter) -> None:
        reporter.send(await _api_run(worker, texts, base_url, model, max_tokens, timeout, sync))

    _run_worker(worker, (sync.ready, sync.go), sync.queue, body)


async def _api_stream(
    client: Any, model: str, text: str, max_tokens: int, result: StreamResult
) -> None:
    monotonic = time.monotonic
    result.t_send = monotonic()
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": text}],
            max_tokens=max_tokens,
            stream=True,
        )
        async for chunk in stream:
            result.frames += 1
            if result.t_ack is None:
                result.t_ack = monotonic()
            if result.t_first is None and chunk.choices and chunk.choices[0].delta.content:
                result.t_first = monotonic()
        result.t_done = monotonic()
        result.ok = result.t_first is not None
        if not result.ok:
            result.error = "stream ended without text"
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:200]


async def _api_run(
    worker: int,
    texts: list[str],
    base_url: str,
    model: str,
    max_tokens: int,
    timeout: float,
    sync: Sync,
) -> WorkerReport:
    import httpx2
    import openai

    report = WorkerReport(worker=worker, results=[StreamResult() for _ in texts])
    pool = len(texts) + 8
    client = openai.AsyncOpenAI(
        base_url=base_url,
        api_key="x",
        max_retries=0,
        timeout=httpx2.Timeout(timeout, connect=30),
        http_client=openai.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(max_connections=pool, max_keepalive_connections=pool)
        ),
    )
    try:
        # One short stream first: the SDK's first streamed call pays for lazy imports.
        first = StreamResult()
        await _api_stream(client, model, "bench warm-up", 1, first)
        if not first.ok:
            raise RuntimeError(f"baseline warm-up stream failed: {first.error}")
        # "Connected first": as many concurrent cheap requests as there will be streams
        # leave that many keep-alive connections in the pool.
        t0 = time.monotonic()
        gate = asyncio.Semaphore(len(texts))  # the simulator listens with a deep backlog

        async def warm() -> None:
            async with gate:
                await client.models.list()

        await asyncio.gather(*(warm() for _ in texts))
        report.connect_s = time.monotonic() - t0
        _freeze_heap()
        await _barrier(sync.ready, sync.barrier_timeout)
        await _barrier(sync.go, sync.barrier_timeout)
        start_at = sync.start_at.value
        await _sleep_until(start_at)
        cpu0 = time.process_time()
        tasks = [
            asyncio.create_task(_api_stream(client, model, text, max_tokens, result))
            for text, result in zip(texts, report.results, strict=True)
        ]
        await _finish(report, tasks, start_at, timeout, cpu0, "stream not finished")
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), timeout=10)
    return report
