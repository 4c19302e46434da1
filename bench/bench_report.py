"""Printing a bench run: a table per phase, warnings about the machine, the JSON file, and
the machine-readable last line."""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench_results import SETTLE_TIMEOUT_S, PhaseResult, PoolWarmup, Schedule, percentile

SIM_LATENESS_P99_LIMIT_MS = 10.0
# A client process busier than this (share of one core) may itself be delaying frames.
CLIENT_PROC_BUSY_PCT = 60.0
# The pool warm-up: the app keeps an idle model connection this long (aiohttp keep-alive,
# agents/providers/client.py), so the timed sends must follow the warm burst well within it.
APP_MODEL_KEEPALIVE_S = 30.0
POOL_GAP_LIMIT_S = 20.0


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
