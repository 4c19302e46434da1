"""``bench/run.py --idle-sockets N``: what open chat pages cost the server while nobody writes.

A browser tab with a conversation open holds its WebSocket for as long as it stays open,
mostly without sending anything. Such a page should cost the server no model connection
and no measurable CPU, and only a little memory. This mode checks that, at up to tens of
thousands of pages:

1. it sets up as the chats run does (database, one visitor and conversation per page,
   the simulator, the server processes, the warm-up chats), waits until the warm-up's
   follow-up model calls (a title) are over, then resets the simulator's ``/sim/stats``;
2. load-client processes open every page's socket as a browser would (``Cookie`` and
   ``Origin``), a bounded number at a time, spread over the server processes round-robin;
3. once every socket is open, it reads the clocks, waits ``--idle-seconds`` with nothing
   sent, and reads them again: server CPU as a percent of one core, server memory (RSS)
   before opening and after, and the connections the simulator saw opened since the reset
   (the server's model connections: the target is none).

The last line printed is the machine-readable result::

    bench-idle: sockets=N open_s=... server_cpu_pct=... rss_mb_before=... rss_mb_after=...
    rss_kb_per_socket=... model_connections=... failed=...

``failed`` counts the sockets that did not open and those that closed during the window.
Every process involved raises its open-files limit (a page is a socket at each end); the
run stops early, with the reason, if a limit is too low for the sockets asked for.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bench_results import other_cpu_s
from loadclient import ChatSpec, IdleReport, IdleSync, idle_worker
from procs import (
    SPAWN,
    drain,
    nofile_limit,
    open_files,
    raise_nofile,
    rss_mb,
    worker_processes,
)

if TYPE_CHECKING:
    from bench_results import Probe
    from run import Bench

FD_MARGIN = 256  # open files a process needs besides its sockets (libraries, logs, database)
START_TIMEOUT_S = 120.0  # for the client processes to start
OPEN_TIMEOUT_BASE_S = 180.0  # for every socket to open: this, plus ...
OPEN_TIMEOUT_PER_SOCKET_S = 0.05  # ... this much per socket
SETTLE_QUIET_S = 1.0  # the simulator counts as settled after this long without a request
SETTLE_TIMEOUT_S = 30.0
NOISY_OTHER_PCT = 25.0  # other processes busier than this (% of a core) make the run noisy


# --- options -------------------------------------------------------------------------------


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "idle pages",
        "Instead of chats: open N chat pages' WebSockets, send nothing, and measure what "
        "they cost the server.",
    )
    group.add_argument(
        "--idle-sockets",
        type=int,
        default=0,
        metavar="N",
        help="open N idle chat sockets (0: run the chats instead)",
    )
    group.add_argument(
        "--idle-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="how long to measure once every socket is open (10)",
    )


def options_problem(args: argparse.Namespace) -> str:
    """What is wrong with the idle options, or ""."""
    if args.idle_sockets < 0 or args.idle_seconds <= 0:
        return "--idle-sockets must be >= 0 and --idle-seconds > 0"
    return ""


# --- the simulator's counters --------------------------------------------------------------


class SimStats:
    """``/sim/stats`` over one kept-alive connection, opened before the counters are reset,
    so that reading them does not count as a connection."""

    def __init__(self, root: str) -> None:
        parts = urlsplit(root)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, 10)

    def call(
        self, path: str, method: str = "GET", payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = json.dumps(payload).encode() if payload is not None else b""
        self.conn.request(method, path, body=body if method == "POST" else None)
        document: dict[str, Any] = json.loads(self.conn.getresponse().read())
        return document

    def settle(self) -> None:
        """Wait (bounded) until the simulator streams nothing and has had no request for a
        while: the warm-up chats' follow-up calls (a title, in-process) are over."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            stats = self.call("/sim/stats")
            if stats["requests"] != last or stats["active_streams"]:
                last, since = stats["requests"], time.monotonic()
            elif time.monotonic() - since >= SETTLE_QUIET_S:
                return
            time.sleep(0.1)

    def close(self) -> None:
        self.conn.close()


# --- one run -------------------------------------------------------------------------------


@dataclass
class IdleResult:
    sockets: int
    server_procs: int
    open_s: float  # from the clients' start to every socket open
    start: Probe  # when the clients started opening
    opened: Probe  # every socket open: the idle window starts
    end: Probe  # the idle window ends
    rss_mb_before: float  # the servers' RSS, summed, before any socket opened
    rss_mb_opened: float  # ... right after every socket opened
    rss_mb_after: float  # ... at the end of the idle window
    files_before: int  # the servers' open files (sockets included), summed, before opening
    files_after: int  # ... at the end of the idle window
    files_limit: int  # the servers' open-files limits, summed (-1: none)
    sim_stats: dict[str, Any]  # since the reset after the warm-up, read at the window's end
    reports: list[IdleReport]

    @property
    def window_s(self) -> float:
        return self.end.at - self.opened.at

    def pct(self, seconds: float) -> float:
        return 100.0 * seconds / self.window_s if self.window_s > 0 else math.nan

    @property
    def server_cpu_pct(self) -> float:
        return self.pct(self.end.server_cpu_s - self.opened.server_cpu_s)

    @property
    def server_open_ms_per_socket(self) -> float:
        opened = sum(r.opened for r in self.reports)
        cpu = self.opened.server_cpu_s - self.start.server_cpu_s
        return 1000.0 * cpu / opened if opened else math.nan

    @property
    def rss_kb_per_socket(self) -> float:
        return 1024.0 * (self.rss_mb_after - self.rss_mb_before) / self.sockets

    @property
    def client_cpu_s(self) -> float:
        return sum(r.cpu_idle_s for r in self.reports)

    @property
    def sim_cpu_s(self) -> float:
        return self.end.sim_cpu_s - self.opened.sim_cpu_s

    @property
    def other_cpu_s(self) -> float:
        """Busy CPU on the machine over the idle window, not ours."""
        return other_cpu_s(self.opened, self.end, self.client_cpu_s)

    @property
    def model_connections(self) -> int:
        return int(self.sim_stats.get("connections", 0))

    @property
    def not_opened(self) -> int:
        return sum(r.sockets - r.opened for r in self.reports)

    @property
    def closed(self) -> int:
        return sum(r.closed for r in self.reports)

    @property
    def failed(self) -> int:
        return self.not_opened + self.closed

    def errors(self) -> Counter[str]:
        errors: Counter[str] = Counter()
        for r in self.reports:
            errors.update(r.errors)
        return errors


def run(bench: Bench) -> Callable[[], None]:
    """The idle-pages run, set up and measured; returns what prints its report."""
    args = bench.args
    count, procs = args.idle_sockets, args.procs["idle"]
    bench.log(
        f"idle: {count} sockets over {args.server_procs} server process(es) from {procs} "
        f"client process(es), {args.config} config, {args.idle_seconds:g} s with nothing "
        f"sent; work dir {bench.tmp}"
    )
    check_nofile("this process (and so the clients)", raise_nofile(), math.ceil(count / procs))
    pages = bench.setup([f"idle page {i}" for i in range(count)])
    per_server = math.ceil(count / args.server_procs)
    limits = [nofile_limit(pid) for pid in bench.server_pids]
    for pid, limit in zip(bench.server_pids, limits, strict=True):
        check_nofile(f"server pid {pid}", limit, per_server)
    sim = SimStats(bench.sim_root)
    try:
        sim.settle()
        bench.wait_quiet()
        sim.call("/sim/stats/reset", "POST")
        result = open_and_idle(bench, pages, sim)
        result.files_limit = -1 if min(limits) < 0 else sum(limits)
    finally:
        sim.close()
    bench.stop_servers()
    return partial(report, args, result, bench.version)


def check_nofile(who: str, limit: int, sockets: int) -> None:
    if 0 <= limit < sockets + FD_MARGIN:
        raise RuntimeError(
            f"{who} may open {limit} files, too few for {sockets} sockets: raise the hard "
            "limit (ulimit -Hn), or spread the sockets over more --client-procs / --server-procs"
        )


def server_rss_mb(bench: Bench) -> float:
    return sum(rss_mb(pid) for pid in bench.server_pids)


def server_files(bench: Bench) -> int:
    return sum(open_files(pid) for pid in bench.server_pids)


def open_and_idle(bench: Bench, pages: list[ChatSpec], sim: SimStats) -> IdleResult:
    """Have the clients open every page's socket, then measure the idle window."""
    args = bench.args
    concurrency = bench.connect_concurrency("idle")
    parts = bench.split(pages, "idle")
    worker_args = [(part, bench.server_port, concurrency) for part in parts]
    count = len(worker_args)
    open_timeout = OPEN_TIMEOUT_BASE_S + OPEN_TIMEOUT_PER_SOCKET_S * len(pages)
    queue = SPAWN.Queue()
    sync = IdleSync(
        started=SPAWN.Barrier(count + 1),
        opened=SPAWN.Barrier(count + 1),
        measured=SPAWN.Barrier(count + 1),
        queue=queue,
        barrier_timeout=START_TIMEOUT_S + open_timeout + args.idle_seconds + 60,
    )
    before = (server_rss_mb(bench), server_files(bench))
    try:
        with worker_processes("idle", idle_worker, worker_args, sync):
            try:
                result = measure(bench, sync, sim, open_timeout, before)
                sync.measured.wait(timeout=60)
            except threading.BrokenBarrierError:
                fatal = "\n".join(r.fatal for r in drain(queue, count, timeout=5) if r.fatal)
                raise RuntimeError(f"idle: the clients did not get through\n{fatal}") from None
            result.reports = sorted(drain(queue, count, timeout=60), key=lambda r: r.worker)
    finally:
        queue.close()
    broken = [r.fatal for r in result.reports if r.fatal]
    if broken or len(result.reports) != count:
        raise RuntimeError("idle: a client process failed\n" + "\n".join(broken))
    return result


def measure(
    bench: Bench, sync: IdleSync, sim: SimStats, open_timeout: float, before: tuple[float, int]
) -> IdleResult:
    """The harness's side of the barriers: clocks when opening starts, when every socket is
    open, and after the idle window. ``before``: the servers' RSS and open files then."""
    sync.started.wait(timeout=START_TIMEOUT_S)
    start = bench.probe()
    sync.opened.wait(timeout=open_timeout)
    opened = bench.probe()
    rss_opened = server_rss_mb(bench)
    bench.log(f"every socket open after {opened.at - start.at:.1f} s; idle from now")
    profiler = (
        bench.start_profiler(math.ceil(bench.args.idle_seconds)) if bench.args.py_spy else None
    )
    time.sleep(bench.args.idle_seconds)
    end = bench.probe()
    result = IdleResult(
        sockets=bench.args.idle_sockets,
        server_procs=len(bench.server_pids),
        open_s=opened.at - start.at,
        start=start,
        opened=opened,
        end=end,
        rss_mb_before=before[0],
        rss_mb_opened=rss_opened,
        rss_mb_after=server_rss_mb(bench),
        files_before=before[1],
        files_after=server_files(bench),
        files_limit=-1,
        sim_stats=sim.call("/sim/stats"),
        reports=[],
    )
    if profiler is not None:  # let it write its output before the server goes
        profiler.wait(timeout=bench.args.idle_seconds + 60)
    return result


# --- reporting -----------------------------------------------------------------------------


def describe(result: IdleResult, warnings: list[str]) -> None:
    r = result
    print(
        f"\n== idle: {r.sockets} sockets to {r.server_procs} server process(es) from "
        f"{len(r.reports)} client process(es)"
    )
    print(
        f"  opened {r.sockets - r.not_opened} ({r.not_opened} failed) in {r.open_s:.1f} s; "
        f"server CPU while opening: {r.server_open_ms_per_socket:.2f} ms a socket"
    )
    for message, n in r.errors().most_common(5):
        print(f"  FAILED x{n}: {message}")
    print(
        f"  over {r.window_s:.1f} s with nothing sent (% of one core): server "
        f"{r.server_cpu_pct:.2f}%, simulator {r.pct(r.sim_cpu_s):.2f}%, clients "
        f"{r.pct(r.client_cpu_s):.2f}%, other processes {r.pct(r.other_cpu_s):.1f}%"
    )
    print(
        f"  server RSS: {r.rss_mb_before:.1f} MiB before opening, {r.rss_mb_opened:.1f} right "
        f"after, {r.rss_mb_after:.1f} at the window's end: {r.rss_kb_per_socket:.1f} KiB a socket"
    )
    print(
        f"  server open files: {r.files_before} before opening, {r.files_after} at the "
        f"window's end ({(r.files_after - r.files_before) / r.sockets:.2f} a socket)"
    )
    print(
        f"  simulator since the warm-up: {r.model_connections} connection(s) opened, "
        f"{r.sim_stats.get('requests')} request(s)"
    )
    frames = sum(rep.frames for rep in r.reports)
    print(f"  pages over the window: {frames} frame(s) received, {r.closed} socket(s) closed")
    if r.files_limit >= 0 and r.files_after >= r.files_limit - FD_MARGIN:
        warnings.append(
            f"idle: the server(s) hold {r.files_after} open files against a limit of "
            f"{r.files_limit}: sockets past it fail (EMFILE, see the server log with --keep-tmp)"
        )
    if r.pct(r.other_cpu_s) > NOISY_OTHER_PCT:
        warnings.append(
            f"idle: other processes used {r.pct(r.other_cpu_s):.0f}% of a core during the "
            "window: results are noisy"
        )


def final_line(result: IdleResult) -> str:
    fields = [
        ("sockets", str(result.sockets)),
        ("open_s", f"{result.open_s:.1f}"),
        ("server_cpu_pct", f"{result.server_cpu_pct:.2f}"),
        ("rss_mb_before", f"{result.rss_mb_before:.1f}"),
        ("rss_mb_after", f"{result.rss_mb_after:.1f}"),
        ("rss_kb_per_socket", f"{result.rss_kb_per_socket:.1f}"),
        ("model_connections", str(result.model_connections)),
        ("failed", str(result.failed)),
    ]
    return "bench-idle: " + " ".join(f"{k}={v}" for k, v in fields)


def result_json(args: argparse.Namespace, result: IdleResult, version: str) -> dict[str, Any]:
    r = result
    return {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "app_code": version,
        "sockets": r.sockets,
        "failed": r.failed,
        "not_opened": r.not_opened,
        "closed_while_idle": r.closed,
        "errors": dict(r.errors()),
        "open_s": r.open_s,
        "server_open_ms_per_socket": r.server_open_ms_per_socket,
        "window_s": r.window_s,
        "server_cpu_pct": r.server_cpu_pct,
        "sim_cpu_pct": r.pct(r.sim_cpu_s),
        "client_cpu_pct": r.pct(r.client_cpu_s),
        "other_cpu_pct": r.pct(r.other_cpu_s),
        "rss_mb": {"before": r.rss_mb_before, "opened": r.rss_mb_opened, "after": r.rss_mb_after},
        "rss_kb_per_socket": r.rss_kb_per_socket,
        "server_open_files": {
            "before": r.files_before,
            "after": r.files_after,
            "limit": r.files_limit,
        },
        "model_connections": r.model_connections,
        "sim_stats": r.sim_stats,
        "clients": [vars(rep) for rep in r.reports],
    }


def report(args: argparse.Namespace, result: IdleResult, version: str) -> None:
    warnings: list[str] = []
    print(f"\nmachine: {os.cpu_count()} cores; app code {version}")
    describe(result, warnings)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result_json(args, result, version), indent=2))
    if warnings:
        print()
        for warning in warnings:
            print(f"!!! WARNING: {warning}")
    print()
    print(final_line(result), flush=True)
