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

import contextlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, Literal

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
    percentile,
)
from harness import BASE_DIR, MODEL, PYTHON, Harness
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
    cpu_seconds,
    drain,
    machine_cpu_seconds,
    peak_rss_mb,
    raise_nofile,
    run_checked,
    tcp_connections_to,
    worker_processes,
)
from retrieval import questions

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


class Bench(Harness):
    """A bench run: chats seeded, servers warmed up, phases timed."""

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
        if self.args.knowledge:  # people's questions about the guide, each asked once
            asked = questions()
            return [f"{asked[i % len(asked)]} [sim:prose] (#{i})" for i in range(self.args.streams)]
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
        if self.args.knowledge:
            self.manage("kb_ingest", str(BASE_DIR / "agents" / "knowledge" / "demo"))
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

    def probe(self) -> Probe:
        busy, total = machine_cpu_seconds()
        return Probe(
            at=time.monotonic(),
            server_cpu_s=self.server_cpu_s(),
            sim_cpu_s=cpu_seconds(self.sim_pid),
            machine_busy_s=busy,
            machine_total_s=total,
        )

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
