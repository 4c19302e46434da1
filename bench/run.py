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
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import idle
import workloads
from bench_report import report
from bench_results import (
    SETTLE_CPU_PCT,
    SETTLE_QUIET_S,
    SETTLE_TIMEOUT_S,
    PhaseResult,
    PoolWarmup,
    Probe,
    Schedule,
    percentile,
)
from loadclient import (
    ChatSpec,
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
START_DELAY_S = 0.5  # from "everyone connected" to the shared send instant
CONNECT_TIMEOUT_S = 180.0
# Sockets being opened at once, over all client processes: a connection that overflows the
# server's listen backlog is retried only a second later, so openings are kept well under it.
CONNECT_CONCURRENCY = 32
# A pool warm-up chat: one token, due late enough that every request of the burst is still
# in flight when the last one arrives (a connection freed early would be reused, leaving the
# pool short). Its conversation is seeded with a title, so it makes no title call (which
# would carry the same markers).
POOL_WARM_TTFT_MS = 1500
POOL_WARM_TEXT = f"bench pool warm-up {{}} [sim:tokens=1][sim:ttft={POOL_WARM_TTFT_MS}]"


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
