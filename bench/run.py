"""``make bench``: N concurrent browser-like chats against Orion, on the LLM simulator's clock.

The harness starts the project's LLM simulator on a fixed schedule (time to first token, then
a fixed token rate) and one Orion server process (``manage.py serve``), creates one visitor
session and one conversation per chat, connects every chat's WebSocket first and then has
all of them send at the same instant, the way a room of browsers would. It times every chat from its
send to the first frame that shows reply text (ttft) and to the final frame (duration), and
compares both with the simulator's schedule ("ideal"). Then it streams the same load
straight from the simulator with the OpenAI SDK as a baseline.

Servers open model connections on first use and keep them alive a while, so before the
timed sends (once their sockets are open) a burst of as many one-token chats, on
conversations of their own, fills the servers' pools as steady traffic would; the harness
then waits for the servers to go quiet. ``--no-warm-pool`` skips it: the timed burst then
opens its model connections itself.

The last line printed is the machine-readable result::

    bench: streams=... completed=... failed=... ttft_over_ideal_p50_ms=... ...

With ``--idle-sockets N`` it measures something else on the same set-up: what N open chat
pages cost the server while nobody sends anything (``bench/idle.py``, last line
``bench-idle: ...``).

See bench/README.md for definitions, the commands and recorded results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import idle
import workloads
from loadclient import (
    ChatSpec,
    StreamResult,
    Sync,
    WorkerReport,
    api_worker,
    burst,
    warm_up,
    ws_worker,
)
from options import QUIET_PCT, QUIET_SECONDS, parse_args
from procs import (
    SPAWN,
    Children,
    cpu_seconds,
    drain,
    free_port,
    machine_cpu_seconds,
    peak_rss_mb,
    port_open,
    raise_nofile,
    run_checked,
    tcp_connections_to,
    wait_for_line,
    wait_until,
    worker_processes,
)

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = str(BASE_DIR / ".venv" / "bin" / "python")
MODEL = "orion-sim-1"
SIM_LATENESS_P99_LIMIT_MS = 10.0
START_DELAY_S = 0.5  # from "everyone connected" to the shared send instant
CONNECT_TIMEOUT_S = 180.0
# Sockets being opened at once, over all client processes: a connection that overflows the
# server's listen backlog is retried only a second later, so openings are kept well under it.
CONNECT_CONCURRENCY = 32
# A client process busier than this (share of one core) may itself be delaying frames.
CLIENT_PROC_BUSY_PCT = 60.0
# The pool warm-up: the app keeps an idle model connection this long (aiohttp keep-alive,
# agents/providers/client.py), so the timed sends must follow the warm burst well within it.
APP_MODEL_KEEPALIVE_S = 30.0
POOL_GAP_LIMIT_S = 20.0
# A pool warm-up chat: one token, due late enough that every request of the burst is still
# in flight when the last one arrives (a connection freed early would be reused, leaving the
# pool short). Its conversation is seeded with a title, so it makes no title call (which
# would carry the same markers).
POOL_WARM_TTFT_MS = 1500
POOL_WARM_TEXT = f"bench pool warm-up {{}} [sim:tokens=1][sim:ttft={POOL_WARM_TTFT_MS}]"
# After the warm burst, the servers count as quiet (its titles done) once the simulator has
# had no request and streamed nothing, and the servers used under SETTLE_CPU_PCT of a core,
# for SETTLE_QUIET_S in a row; the harness waits at most SETTLE_TIMEOUT_S for that.
SETTLE_QUIET_S = 1.0
SETTLE_CPU_PCT = 10.0
SETTLE_TIMEOUT_S = 20.0


# --- the schedule --------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    ttft_ms: float
    tokens_per_sec: float
    tokens: int

    @property
    def ideal_ttft_ms(self) -> float:
        return self.ttft_ms

    @property
    def ideal_duration_ms(self) -> float:
        """First token at ttft, then one token every 1/rate s: the last is due at this time."""
        return self.ttft_ms + max(self.tokens - 1, 0) * 1000.0 / self.tokens_per_sec


# --- statistics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (numpy's default); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Probe:
    """CPU clocks read at one instant."""

    at: float
    server_cpu_s: float
    sim_cpu_s: float
    machine_busy_s: float
    machine_total_s: float


@dataclass
class PoolWarmup:
    """The pool warm-up before the timed run (``chats == 0``: none, the pool was cold)."""

    chats: int = 0
    burst_s: float = math.nan  # from the burst's first send to its last final frame
    ttft_p50_ms: float = math.nan  # of the burst's one-token replies
    settle_s: float = math.nan  # then waiting for the servers and the simulator to go quiet
    settled: bool = False  # False: still busy after SETTLE_TIMEOUT_S
    first_done: float = math.nan  # monotonic: the burst's first final frame
    gap_s: float = math.nan  # from the burst's first final frame to the timed sends
    pooled: int = -1  # model connections the servers held open just before the sends

    @property
    def warmed(self) -> bool:
        return self.chats > 0


@dataclass
class PhaseResult:
    name: str
    streams: int
    wall_s: float  # shared start instant -> last report
    results: list[StreamResult]
    reports: list[WorkerReport]
    before: Probe
    after: Probe
    sim_stats: dict[str, Any]
    server_peak_rss_mb: float = math.nan
    pool: PoolWarmup | None = None  # the app run's pool warm-up

    @property
    def completed(self) -> list[StreamResult]:
        return [r for r in self.results if r.ok]

    def _since_send_ms(self, moment: str) -> list[float]:
        """Milliseconds from each completed stream's send to its ``moment`` (a ``t_*`` field)."""
        spans = []
        for r in self.completed:
            at = getattr(r, moment)
            if at is not None and r.t_send is not None:
                spans.append((at - r.t_send) * 1000.0)
        return spans

    def ttft_ms(self) -> list[float]:
        return self._since_send_ms("t_first")

    def ack_ms(self) -> list[float]:
        """Send to the first frame back (the app: exchange frame, i.e. the message is stored)."""
        return self._since_send_ms("t_ack")

    def duration_ms(self) -> list[float]:
        return self._since_send_ms("t_done")

    def frames(self) -> list[float]:
        return [float(r.frames) for r in self.completed]

    @property
    def client_cpu_s(self) -> float:
        return sum(r.cpu_s for r in self.reports)

    @property
    def client_cpu_pct(self) -> float:
        """Load-client CPU as percent of one core over the run, summed over its processes."""
        return 100.0 * self.client_cpu_s / self.wall_s if self.wall_s > 0 else math.nan

    def cpu_pct(self, seconds: float) -> float:
        return 100.0 * seconds / self.wall_s if self.wall_s > 0 else math.nan

    @property
    def server_cpu_s(self) -> float:
        return self.after.server_cpu_s - self.before.server_cpu_s

    @property
    def sim_cpu_s(self) -> float:
        return self.after.sim_cpu_s - self.before.sim_cpu_s

    @property
    def other_cpu_s(self) -> float:
        """Busy CPU on the machine not accounted for by server, simulator and client."""
        busy = self.after.machine_busy_s - self.before.machine_busy_s
        return max(0.0, busy - self.server_cpu_s - self.sim_cpu_s - self.client_cpu_s)

    @property
    def tokens(self) -> int:
        return int(self.sim_stats.get("tokens", 0))

    @property
    def sim_connections(self) -> int:
        """Connections the simulator saw opened from its reset (just before the start
        instant) to the end of the run."""
        return int(self.sim_stats.get("connections", -1))

    def errors(self) -> Counter[str]:
        # Group similar messages: numbers (ids, seconds) would make each one unique.
        return Counter(re.sub(r"\d+", "N", r.error) for r in self.results if not r.ok)


# --- the harness ---------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.schedule = Schedule(args.ttft_ms, args.tokens_per_sec, args.tokens)
        self.children = Children()
        self.tmp = Path(tempfile.mkdtemp(prefix="orion-bench-"))
        self.run_id = f"orion-bench-{secrets.token_hex(4)}"
        self.env = self._app_env()
        self.sim_pid = 0
        self.sim_root = ""
        self.sim_port = 0
        self.server_pid = 0  # the first server process (the one py-spy records)
        self.server_port = 0
        self.servers: list[subprocess.Popen[bytes]] = []
        self.server_pids: list[int] = []
        self.server_ports: list[int] = []
        self.pool_chats: list[ChatSpec] = []  # the pool warm-up's chats (setup's ``pool``)
        self.version = ""

    # -- environment -------------------------------------------------------------------------

    def _app_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.update(
            DJANGO_SETTINGS_MODULE="project.settings",
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            # The per-IP send limit (20/m by default) would refuse a load test from one address.
            ORION_RATE_LIMIT="100000/m",
            ORION_MAX_REPLY_TOKENS=str(max(1024, self.args.tokens)),
            OPENAI_API_KEY="x",
            ORION_MODEL=MODEL,
            PYTHONUNBUFFERED="1",
        )
        if self.args.config == "embedded":
            env["ORION_SQLITE_PATH"] = str(self.tmp / "bench.sqlite3")
        else:
            env.update(
                DATABASE_URL=self.args.database_url,
                REDIS_URL=self.args.redis_url,
                # Everything this run puts in Redis carries the run id and is deleted after.
                ORION_CACHE_PREFIX=self.run_id,
                ORION_CHANNEL_PREFIX=f"{self.run_id}:asgi",
                ORION_CELERY_QUEUE=self.run_id,
            )
        return env

    @staticmethod
    def code_version() -> str:
        """The app code measured: commit, and whether the work tree differs from it (read-only)."""

        def git(*args: str) -> str:
            return subprocess.run(  # noqa: S603 - fixed git subcommands from this function
                ["git", *args],  # noqa: S607
                cwd=BASE_DIR,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout

        try:
            head = git("rev-parse", "--short", "HEAD").strip()
            changed = git("status", "--porcelain", "--", ".", ":!bench", ":!.venv").splitlines()
        except (OSError, subprocess.SubprocessError):
            return "unknown (no git)"
        return head + (f" + {len(changed)} uncommitted change(s)" if changed else "")

    def log(self, message: str) -> None:
        print(f"[bench] {message}", flush=True)

    def prepare_services(self) -> None:
        import psycopg
        import redis

        parts = urlsplit(self.args.database_url)
        name = parts.path.lstrip("/")
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise RuntimeError(f"unexpected database name {name!r}")
        admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        client = redis.Redis.from_url(self.args.redis_url, socket_timeout=10)
        client.ping()
        client.close()
        self.log(f"PostgreSQL database {name} re-created; Redis keys prefixed {self.run_id}")

    def cleanup_services(self) -> None:
        import redis

        with contextlib.suppress(Exception):
            client = redis.Redis.from_url(self.args.redis_url, socket_timeout=10)
            keys = list(client.scan_iter(match=f"*{self.run_id}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
            client.close()

    def manage_script(self, script: str, *args: str, timeout: float = 300) -> None:
        """Run ``bench/<script>`` with the app's environment (its database)."""
        log = self.tmp / f"{script}.log"
        run_checked([PYTHON, str(BASE_DIR / "bench" / script), *args], env=self.env,
                    cwd=BASE_DIR, log=log, timeout=timeout)  # fmt: skip

    def sim_control(self, changes: dict[str, Any]) -> None:
        """Change the simulator's settings while it runs (``POST /sim/control``)."""
        sim = idle.SimStats(self.sim_root)
        try:
            sim.call("/sim/control", "POST", changes)
        finally:
            sim.close()

    def manage(self, *command: str, timeout: float = 300) -> None:
        log = self.tmp / f"manage-{command[0]}.log"
        run_checked(
            [PYTHON, "manage.py", *command], env=self.env, cwd=BASE_DIR, log=log, timeout=timeout
        )

    def seed(self, texts: list[str], titled: int = 0) -> list[ChatSpec]:
        """One visitor and conversation for each of ``texts``, in that order; the first
        ``titled`` conversations have a title already."""
        out = self.tmp / "chats.json"
        run_checked(
            [PYTHON, str(BASE_DIR / "bench" / "seed.py"), str(len(texts)), str(out)]
            + ["--titled", str(titled)],
            env=self.env,
            cwd=BASE_DIR,
            log=self.tmp / "seed.log",
            timeout=600,
        )
        rows = json.loads(out.read_text())
        return [
            ChatSpec(session=row["session"], conversation=row["conversation"], text=text)
            for row, text in zip(rows, texts, strict=True)
        ]

    def warmup_texts(self) -> list[str]:
        return [f"bench warm-up {i}" for i in range(self.args.warmup * self.args.server_procs)]

    def texts(self) -> list[str]:
        return [f"bench question {i}" for i in range(self.args.streams)]

    def setup(self, texts: list[str], pool: int = 0) -> list[ChatSpec]:
        """Database, visitors, simulator and warmed-up servers, for a chat per ``texts``;
        returns those chats, spread over the server processes. With ``pool``, that many
        more chats for the pool warm-up (``self.pool_chats``), spread the same way."""
        self.version = self.code_version()
        self.log(f"app code: {self.version}")
        if self.args.config == "services":
            self.prepare_services()
        self.manage("migrate", "--no-input")
        pool_texts = [POOL_WARM_TEXT.format(i) for i in range(pool)]
        warmup_texts = self.warmup_texts()
        seeded = self.seed(pool_texts + warmup_texts + texts, titled=pool)
        self.log(f"migrated; {len(seeded)} sessions and conversations created")
        self.pool_chats, seeded = seeded[:pool], seeded[pool:]
        warmup, chats = seeded[: len(warmup_texts)], seeded[len(warmup_texts) :]
        self.start_simulator()
        self.start_servers()
        self.warm_up(warmup)
        for group in (self.pool_chats, chats):
            for n, chat in enumerate(group):  # round-robin over the processes, as a proxy would
                chat.port = self.server_ports[n % len(self.server_ports)]
        return chats

    # -- processes -----------------------------------------------------------------------------

    def start_simulator(self) -> None:
        log = self.tmp / "simulator.log"
        schedule = self.schedule
        cmd = [PYTHON, "manage.py", "llm_simulator", "--port", "0"]
        cmd += ["--ttft-ms", f"{schedule.ttft_ms:g}", "--tokens-per-sec"]
        cmd += [f"{schedule.tokens_per_sec:g}", "--reply-tokens", str(schedule.tokens)]
        proc = self.children.start("simulator", cmd, env=self.env, cwd=BASE_DIR, log=log)
        match = wait_for_line(
            proc, log, r"listening on (http://127\.0\.0\.1:\d+)/v1", timeout=30, what="simulator"
        )
        self.sim_pid = proc.pid
        self.sim_root = match.group(1)
        self.sim_port = int(match.group(1).rsplit(":", 1)[1])
        self.env["OPENAI_BASE_URL"] = f"{self.sim_root}/v1"
        self.log(f"simulator pid {proc.pid} at {self.sim_root}/v1 ({' '.join(cmd[1:])})")

    def start_servers(self) -> None:
        for n in range(self.args.server_procs):
            port = free_port()
            log = self.tmp / f"server-{n}.log"
            cmd = [PYTHON, "manage.py", "serve", "--port", str(port)]
            proc = self.children.start(f"server-{n}", cmd, env=self.env, cwd=BASE_DIR, log=log)
            wait_until(partial(port_open, port), timeout=60, what="server", proc=proc, log=log)
            self.servers.append(proc)
            self.server_pids.append(proc.pid)
            self.server_ports.append(port)
            self.log(f"server pid {proc.pid} on 127.0.0.1:{port} ({self.args.config} config)")
        self.server_pid, self.server_port = self.server_pids[0], self.server_ports[0]

    def stop_servers(self) -> None:
        for server in self.servers:
            self.children.stop(server)
        self.server_pid = 0
        self.servers, self.server_pids, self.server_ports = [], [], []

    def wait_quiet(self) -> None:
        """Wait (bounded by --wait-quiet) until the machine is not busy with other work."""
        if self.args.wait_quiet <= 0:
            return
        deadline = time.monotonic() + self.args.wait_quiet
        quiet_for = 0
        while quiet_for < QUIET_SECONDS:
            busy0, _ = machine_cpu_seconds()
            time.sleep(1.0)
            busy = 100.0 * (machine_cpu_seconds()[0] - busy0)
            quiet_for = quiet_for + 1 if busy < QUIET_PCT else 0
            if time.monotonic() > deadline:
                self.log(f"machine still busy ({busy:.0f}% of a core) after waiting; going on")
                return
        self.log(f"machine quiet for {QUIET_SECONDS} s (last second: {busy:.0f}% of a core busy)")

    def warm_up(self, chats: list[ChatSpec]) -> None:
        if not chats:
            return
        results = []
        for n, port in enumerate(self.server_ports):
            results += warm_up(chats[n :: len(self.server_ports)], port, self.args.timeout)
        failed = [r.error for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"warm-up chat failed: {failed[0]}")
        ttfts = ", ".join(f"{((r.t_first or 0) - (r.t_send or 0)) * 1000:.0f} ms" for r in results)
        self.log(f"warm-up: {len(results)} chat(s) completed (ttft {ttfts})")

    def warm_pool(self, sim: idle.SimStats) -> PoolWarmup:
        """The pool warm-up: every pool chat at once (one-token replies), to their final
        frames, then until the servers are quiet (each first exchange queues a title task).
        Each server's keep-alive pool then holds a model connection per chat it was sent."""
        chats = self.pool_chats
        results = burst(chats, self.args.timeout, CONNECT_CONCURRENCY)
        failed = [r.error for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"pool warm-up: {len(failed)} chat(s) failed: {failed[0]}")
        sends = [r.t_send for r in results if r.t_send is not None]
        dones = [r.t_done for r in results if r.t_done is not None]
        ttft = [(r.t_first or 0.0) - (r.t_send or 0.0) for r in results]
        pool = PoolWarmup(
            chats=len(chats),
            burst_s=max(dones) - min(sends),
            ttft_p50_ms=percentile(ttft, 0.5) * 1000.0,
            first_done=min(dones),
        )
        pool.settle_s, pool.settled = self.settle(sim)
        self.log(
            f"pool warm-up: {pool.chats} one-token chats at once over "
            f"{len(self.server_ports)} server process(es) in {pool.burst_s:.2f} s (ttft p50 "
            f"{pool.ttft_p50_ms:.0f} ms); quiet "
            + (f"{pool.settle_s:.1f} s later" if pool.settled else "NOT reached")
        )
        return pool

    def settle(self, sim: idle.SimStats) -> tuple[float, bool]:
        """Wait (bounded) until the simulator has had no request and streams nothing, and
        the servers have used under SETTLE_CPU_PCT of a core, for SETTLE_QUIET_S in a row.
        Returns the seconds waited and whether that happened."""
        t0 = time.monotonic()
        last_requests, since, cpu_since = -1, t0, self.server_cpu_s()
        while True:
            time.sleep(0.1)
            now, stats, cpu = time.monotonic(), sim.call("/sim/stats"), self.server_cpu_s()
            if stats["requests"] != last_requests or stats["active_streams"]:
                last_requests, since, cpu_since = stats["requests"], now, cpu
            elif now - since >= SETTLE_QUIET_S:
                if 100.0 * (cpu - cpu_since) / (now - since) < SETTLE_CPU_PCT:
                    return now - t0, True
                since, cpu_since = now, cpu
            if now - t0 > SETTLE_TIMEOUT_S:
                return now - t0, False

    def server_cpu_s(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.server_pids)

    def probe(self) -> Probe:
        busy, total = machine_cpu_seconds()
        return Probe(
            at=time.monotonic(),
            server_cpu_s=self.server_cpu_s(),
            sim_cpu_s=cpu_seconds(self.sim_pid),
            machine_busy_s=busy,
            machine_total_s=total,
        )

    # -- one timed phase -------------------------------------------------------------------------

    def run_phase(
        self,
        name: str,
        target: Callable[..., None],
        worker_args: list[tuple[Any, ...]],
        on_start: Callable[[], object] | None = None,
        model_pool: Literal["none", "cold", "warm"] = "none",
    ) -> PhaseResult:
        """Start the workers, release them at one instant, collect their reports (bounded).
        ``model_pool``: whether to report the servers' model connections at the start
        ("cold"), and warm them up first, once the workers are connected ("warm")."""
        count = len(worker_args)
        queue = SPAWN.Queue()
        sync = Sync(
            ready=SPAWN.Barrier(count + 1),
            go=SPAWN.Barrier(count + 1),
            start_at=SPAWN.Value("d", 0.0),
            queue=queue,
            barrier_timeout=CONNECT_TIMEOUT_S + 30,
        )
        # Kept alive from before the reset, so that reading the stats is not a connection.
        sim = idle.SimStats(self.sim_root)
        try:
            with worker_processes(name, target, worker_args, sync):
                start_at, pool = self._release(name, sync, count, sim, model_pool)
                while time.monotonic() < start_at:
                    time.sleep(min(0.001, max(0.0, start_at - time.monotonic())))
                before = self.probe()
                if on_start is not None:
                    on_start()
                deadline = start_at + self.args.timeout + 60
                reports: list[WorkerReport] = drain(
                    queue, count, timeout=deadline - time.monotonic()
                )
                after = self.probe()
                sim_stats = sim.call("/sim/stats")
        finally:
            queue.close()
            sim.close()
        broken = [r.fatal for r in reports if r.fatal]
        if broken or len(reports) != count:
            raise RuntimeError(f"{name}: a client process failed\n" + "\n".join(broken))
        results = [result for report in reports for result in report.results]
        return PhaseResult(
            name=name,
            streams=len(results),
            wall_s=after.at - before.at,
            results=results,
            reports=sorted(reports, key=lambda r: r.worker),
            before=before,
            after=after,
            sim_stats=sim_stats,
            pool=pool,
        )

    def _release(
        self, name: str, sync: Sync, count: int, sim: idle.SimStats, model_pool: str
    ) -> tuple[float, PoolWarmup | None]:
        """Once every client is connected (and the pool warm-up, if any, is over), set the
        shared start instant; returns it and the model pool's state."""
        pool = None
        try:
            sync.ready.wait(timeout=CONNECT_TIMEOUT_S)
            if model_pool != "none":
                pool = self.warm_pool(sim) if model_pool == "warm" else PoolWarmup()
            # After every warm-up request, so the stats cover the run alone.
            sim.call("/sim/stats/reset", "POST")
            start_at = time.monotonic() + START_DELAY_S
            if pool is not None:
                self.pool_at_start(pool, start_at)
            sync.start_at.value = start_at
            sync.go.wait(timeout=30)
        except threading.BrokenBarrierError:
            reports = drain(sync.queue, count, timeout=5)
            fatal = "\n".join(r.fatal for r in reports if r.fatal)
            raise RuntimeError(f"{name}: clients did not get ready\n{fatal}") from None
        return start_at, pool

    def pool_at_start(self, pool: PoolWarmup, start_at: float) -> None:
        """Note the servers' open model connections, and the time since the warm burst."""
        pool.pooled = tcp_connections_to(self.server_pids, self.sim_port)
        pool.gap_s = start_at - pool.first_done
        since = f", {pool.gap_s:.1f} s after the warm burst's first reply" if pool.warmed else ""
        self.log(f"{pool.pooled} model connection(s) open in the server(s) at the sends{since}")

    def split(self, items: list[Any], phase: str) -> list[list[Any]]:
        procs = self.args.procs[phase]
        return [items[i::procs] for i in range(procs)]

    def start_profiler(self, seconds: int = 0) -> subprocess.Popen[bytes]:
        """py-spy on the (first) server for --py-spy-seconds, else ``seconds``, else the
        ideal stream and 2 s more."""
        out: Path = self.args.py_spy
        binary = shutil.which(self.args.py_spy_bin) or self.args.py_spy_bin
        fmt = {".txt": "raw", ".json": "speedscope"}.get(out.suffix, "flamegraph")
        seconds = (
            self.args.py_spy_seconds
            or seconds
            or math.ceil(self.schedule.ideal_duration_ms / 1000 + 2)
        )
        cmd = [binary, "record", "--pid", str(self.server_pid), "--output", str(out)]
        cmd += ["--format", fmt, "--duration", str(seconds), "--nonblocking"]
        cmd += shlex.split(self.args.py_spy_extra)
        proc = self.children.start(
            "py-spy", cmd, env=os.environ, cwd=BASE_DIR, log=self.tmp / "py-spy.log"
        )
        self.log(f"py-spy recording the server for {seconds} s into {out}")
        return proc

    # -- the whole run -----------------------------------------------------------------------------

    def run(self) -> tuple[PhaseResult, PhaseResult | None]:
        args, sched = self.args, self.schedule
        self.log(
            f"{args.streams} streams, {args.config} config, {args.procs['app']} client "
            f"process(es) ({args.procs['baseline']} for the baseline); schedule "
            f"{sched.ttft_ms:g} ms ttft, {sched.tokens_per_sec:g} tok/s, {sched.tokens} tokens "
            f"(ideal {sched.ideal_duration_ms:.0f} ms); work dir {self.tmp}"
        )
        warm_pool = not args.no_warm_pool
        chats = self.setup(self.texts(), pool=args.streams if warm_pool else 0)
        self.wait_quiet()
        concurrency = self.connect_concurrency("app")
        worker_args: list[tuple[Any, ...]] = [
            (part, self.server_port, float(args.timeout), concurrency)
            for part in self.split(chats, "app")
        ]
        app = self.run_phase(
            "app",
            ws_worker,
            worker_args,
            on_start=self.start_profiler if args.py_spy else None,
            model_pool="warm" if warm_pool else "cold",
        )
        # Summed over the server processes: the memory the app needs for this load.
        app.server_peak_rss_mb = sum(peak_rss_mb(pid) for pid in self.server_pids)
        self.stop_servers()
        baseline = None
        if not args.no_baseline:
            time.sleep(1.0)  # let the simulator finish any title requests from the app
            self.wait_quiet()
            baseline_args: list[tuple[Any, ...]] = [
                (part, f"{self.sim_root}/v1", MODEL, self.schedule.tokens, float(args.timeout))
                for part in self.split(self.texts(), "baseline")
            ]
            baseline = self.run_phase("baseline", api_worker, baseline_args)
        return app, baseline

    def connect_concurrency(self, phase: str) -> int:
        """Sockets each client process of ``phase`` may be opening at once: a share of
        ``CONNECT_CONCURRENCY``, so the server's listen backlog does not overflow."""
        return max(1, math.ceil(CONNECT_CONCURRENCY / self.args.procs[phase]))

    def close(self) -> None:
        self.children.stop_all()
        if self.args.config == "services":
            self.cleanup_services()
        if self.args.keep_tmp:
            self.log(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --- reporting ---------------------------------------------------------------------------------


def fmt(value: float, digits: int = 1) -> str:
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def stats_row(label: str, values: Sequence[float], digits: int = 1) -> str:
    cells = [fmt(percentile(values, q), digits) for q in (0.5, 0.95, 0.99)]
    cells.append(fmt(max(values) if values else math.nan, digits))
    return f"  {label:<28}" + "".join(f"{c:>10}" for c in cells)


def describe(phase: PhaseResult, schedule: Schedule, warnings: list[str]) -> None:
    ttft = phase.ttft_ms()
    duration = phase.duration_ms()
    print(f"\n== {phase.name}: {phase.streams} streams, {len(phase.completed)} completed")
    print(f"  {'':<28}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}")
    print(stats_row("first frame back ms", phase.ack_ms()))
    print(stats_row("ttft ms", ttft))
    print(stats_row("ttft over ideal ms", [t - schedule.ideal_ttft_ms for t in ttft]))
    print(stats_row("duration ms", duration, 0))
    print(stats_row("duration / ideal", [d / schedule.ideal_duration_ms for d in duration], 3))
    print(stats_row("frames per stream", phase.frames(), 0))
    errors = phase.errors()
    for message, count in errors.most_common(5):
        print(f"  FAILED x{count}: {message}")
    lateness = phase.sim_stats.get("lateness_ms", {})
    print(
        f"  simulator: {phase.sim_stats.get('streams')} streams, {phase.tokens} tokens, "
        f"{phase.sim_stats.get('errors')} errors; token lateness ms "
        + " ".join(f"{k}={lateness.get(k)}" for k in ("p50", "p95", "p99", "max"))
    )
    if float(lateness.get("p99", 0.0)) > SIM_LATENESS_P99_LIMIT_MS:
        warnings.append(
            f"{phase.name}: SIMULATOR p99 lateness {lateness.get('p99')} ms > "
            f"{SIM_LATENESS_P99_LIMIT_MS:g} ms: the simulator did not keep its schedule, so "
            "this run measures the machine, not the app"
        )
    busy_procs = [(r.worker, 100.0 * r.cpu_s / r.wall_s) for r in phase.reports if r.wall_s > 0]
    per_proc = ", ".join(f"{pct:.0f}%" for _w, pct in busy_procs)
    if phase.name == "app":
        spread = max(r.send_spread_s for r in phase.reports) * 1000
        connect = max(r.connect_s for r in phase.reports)
        print(
            f"  client: all sockets open in {connect:.1f} s, then every send within "
            f"{spread:.1f} ms of the shared instant"
        )
    print(
        f"  CPU over the run ({phase.wall_s:.2f} s, % of one core): "
        + (f"server {fmt(phase.cpu_pct(phase.server_cpu_s))}%, " if phase.name == "app" else "")
        + f"simulator {fmt(phase.cpu_pct(phase.sim_cpu_s))}%, "
        f"client {fmt(phase.client_cpu_pct)}% ({len(phase.reports)} process(es): {per_proc}), "
        f"other processes {fmt(phase.cpu_pct(phase.other_cpu_s))}%"
    )
    if phase.name == "app" and phase.tokens:
        print(
            f"  server: {phase.server_cpu_s * 1000:.0f} ms CPU for {phase.tokens} tokens = "
            f"{phase.server_cpu_s * 1000 / phase.tokens:.3f} ms/token; "
            f"peak RSS {phase.server_peak_rss_mb:.1f} MiB"
        )
    slow = [(w, pct) for w, pct in busy_procs if pct > CLIENT_PROC_BUSY_PCT]
    if slow:
        advice = (
            "try more --client-procs"
            if len(phase.reports) < (os.cpu_count() or 1)
            else "with a process per core already, its timings include the client's own CPU "
            "contention"
        )
        warnings.append(
            f"{phase.name}: a load-client process used {max(p for _, p in slow):.0f}% of a core: "
            f"it may be delaying frames; {advice}"
        )
    if phase.cpu_pct(phase.other_cpu_s) > 25:
        warnings.append(
            f"{phase.name}: other processes used {phase.cpu_pct(phase.other_cpu_s):.0f}% of a core "
            "during the run: results are noisy"
        )


def describe_pool(phase: PhaseResult, pool: PoolWarmup, warnings: list[str]) -> None:
    """The model-connection pool at the start instant, and what the run opened."""
    state = (
        f"{pool.pooled} connection(s) open at the start; the simulator saw "
        f"{phase.sim_connections} opened during the run"
    )
    if not pool.warmed:
        print(f"  model pool: cold (--no-warm-pool); {state}")
        return
    print(
        f"  model pool: warmed by {pool.chats} one-token chats at once ({pool.burst_s:.2f} s, "
        f"quiet {pool.settle_s:.1f} s later), {pool.gap_s:.1f} s before the sends; {state}"
    )
    if not pool.settled:
        warnings.append(
            f"{phase.name}: the servers were still busy {SETTLE_TIMEOUT_S:g} s after the pool "
            "warm-up's burst (its titles?): the run started anyway"
        )
    if pool.gap_s > POOL_GAP_LIMIT_S:
        warnings.append(
            f"{phase.name}: the sends came {pool.gap_s:.1f} s after the pool warm-up, close to "
            f"the app's {APP_MODEL_KEEPALIVE_S:g} s keep-alive: the pool may have been cold"
        )


def final_line(app: PhaseResult, schedule: Schedule) -> str:
    ttft_over = [t - schedule.ideal_ttft_ms for t in app.ttft_ms()]
    ratio = [d / schedule.ideal_duration_ms for d in app.duration_ms()]
    per_token = app.server_cpu_s * 1000 / app.tokens if app.tokens else math.nan
    fields = [
        ("streams", str(app.streams)),
        ("completed", str(len(app.completed))),
        ("failed", str(app.streams - len(app.completed))),
        ("ttft_over_ideal_p50_ms", fmt(percentile(ttft_over, 0.5))),
        ("ttft_over_ideal_p95_ms", fmt(percentile(ttft_over, 0.95))),
        ("ttft_over_ideal_p99_ms", fmt(percentile(ttft_over, 0.99))),
        ("duration_over_ideal_p50", fmt(percentile(ratio, 0.5), 3)),
        ("frames_per_stream_p50", fmt(percentile(app.frames(), 0.5), 0)),
        ("server_cpu_ms_per_token", fmt(per_token, 3)),
        ("peak_rss_mb", fmt(app.server_peak_rss_mb)),
        ("client_cpu_pct", fmt(app.client_cpu_pct)),
    ]
    return "bench: " + " ".join(f"{k}={v}" for k, v in fields)


def phase_json(phase: PhaseResult, schedule: Schedule) -> dict[str, Any]:
    def pcts(values: Sequence[float]) -> dict[str, float]:
        return {f"p{int(q * 100)}": percentile(values, q) for q in (0.5, 0.95, 0.99)}

    return {
        "streams": phase.streams,
        "completed": len(phase.completed),
        "ttft_ms": pcts(phase.ttft_ms()),
        "duration_over_ideal": pcts([d / schedule.ideal_duration_ms for d in phase.duration_ms()]),
        "frames": pcts(phase.frames()),
        "errors": dict(phase.errors()),
        "wall_s": phase.wall_s,
        "server_cpu_s": phase.server_cpu_s,
        "sim_cpu_s": phase.sim_cpu_s,
        "client_cpu_s": phase.client_cpu_s,
        "client_cpu_pct": phase.client_cpu_pct,
        "other_cpu_s": phase.other_cpu_s,
        "server_peak_rss_mb": phase.server_peak_rss_mb,
        "sim_stats": phase.sim_stats,
        # Connections the simulator saw opened from its reset to the run's end.
        "sim_connections": phase.sim_connections,
        "pool_warmed": phase.pool.warmed if phase.pool is not None else None,
        "pool_warmup": pool_json(phase.pool),
        # Per stream, in send order within each client process: ms after its send.
        "per_stream": [
            {
                "ack_ms": _ms(r.t_send, r.t_ack),
                "first_ms": _ms(r.t_send, r.t_first),
                "done_ms": _ms(r.t_send, r.t_done),
                "frames": r.frames,
                "error": r.error,
            }
            for r in phase.results
        ],
    }


def pool_json(pool: PoolWarmup | None) -> dict[str, Any] | None:
    if pool is None:
        return None
    return {k: v for k, v in asdict(pool).items() if k != "first_done"}  # (a clock reading)


def _ms(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round((end - start) * 1000.0, 2)


def report(
    args: argparse.Namespace, app: PhaseResult, baseline: PhaseResult | None, version: str
) -> None:
    schedule = Schedule(args.ttft_ms, args.tokens_per_sec, args.tokens)
    warnings: list[str] = []
    print(
        f"\nideal: ttft {schedule.ideal_ttft_ms:g} ms, duration "
        f"{schedule.ideal_duration_ms:.0f} ms ({schedule.tokens} tokens at "
        f"{schedule.tokens_per_sec:g}/s); machine: {os.cpu_count()} cores; app code {version}"
    )
    describe(app, schedule, warnings)
    if app.pool is not None:
        describe_pool(app, app.pool, warnings)
    if baseline is not None:
        describe(baseline, schedule, warnings)
    if args.json is not None:
        document = {
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "app_code": version,
            "schedule": asdict(schedule),
            "app": phase_json(app, schedule),
            "baseline": phase_json(baseline, schedule) if baseline else None,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2, default=str))
    if warnings:
        print()
        for warning in warnings:
            print(f"!!! WARNING: {warning}")
    print()
    print(final_line(app, schedule), flush=True)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every child is stopped on the way out.

    SIGINT is set explicitly too: a shell starting us in the background ignores it otherwise.
    """

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_chats(bench: Bench) -> Callable[[], None]:
    """The concurrent-chats run; returns what prints its report."""
    app, baseline = bench.run()
    return partial(report, bench.args, app, baseline, bench.version)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile()
    bench = Bench(args)
    with sigterm_as_interrupt():
        try:
            if args.idle_sockets:
                show_report = idle.run(bench)
            elif args.workload == "repeated":
                show_report = workloads.run_repeated(bench)
            elif args.workload == "failover":
                show_report = workloads.run_failover(bench)
            else:
                show_report = run_chats(bench)
        except KeyboardInterrupt:
            print("[bench] interrupted; stopping everything", file=sys.stderr)
            return 130
        except Exception as exc:
            print(f"[bench] FAILED: {exc or type(exc).__name__}", file=sys.stderr)
            return 1
        finally:
            bench.close()
    show_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
