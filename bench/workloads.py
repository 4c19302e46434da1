"""The answer pipeline's workloads for ``bench/run.py --workload``.

- ``repeated``: a few questions, each asked once before the timed run (so the answers are
  cached), then ``--streams`` chats asking them again at one instant (or, with
  ``--arrivals S``, each at its own random moment within S seconds, as people using it
  at the same time would): the hit rate, the time from send to the whole answer on the
  page, and the tokens and money not spent.
- ``failover``: two model servers as two providers; the first breaks ``--drop-rate`` of its
  streams halfway, the second continues them. Every reply must complete; the report gives
  how much longer a continued reply took than one that was not.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from bench_results import percentile
from harness import BASE_DIR, PYTHON
from loadclient import ws_worker
from procs import wait_for_line

if TYPE_CHECKING:
    from bench_results import PhaseResult
    from run import Bench


QUESTIONS = tuple(
    f"In a sentence or two: {topic}?"
    for topic in (
        "what is a lighthouse for", "why is the sea salty", "how do tides work",
        "what makes bread rise", "why is the sky blue", "how do bees make honey",
        "what is a black hole", "how does a compass work", "why do leaves change colour",
        "what is a rainbow",
    )
)  # fmt: skip

PROVIDERS = """
from agents.models import Provider
Provider.objects.create(name="first", base_url="{first}/v1", model="orion-sim-1", priority=1,
                        max_retries=0)
Provider.objects.create(name="second", base_url="{second}/v1", model="orion-sim-1",
                        priority=2, max_retries=0)
"""


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pipeline workloads")
    group.add_argument(
        "--workload",
        choices=("chat", "repeated", "failover"),
        default="chat",
        help="chat: distinct questions (default); repeated: cached answers; "
        "failover: the first provider breaks a share of its streams",
    )
    group.add_argument(
        "--drop-rate",
        type=float,
        default=0.3,
        help="failover: share of the first provider's streams broken (0.3)",
    )
    group.add_argument(
        "--arrivals",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="repeated: each chat sends at its own random moment within SECONDS of the "
        "start (uniform, fixed seed) instead of all at one instant (0)",
    )


def runs_summary(bench: Bench) -> dict[str, Any]:
    out = bench.tmp / "runs.json"
    bench.manage_script("runs_report.py", str(out))
    return dict(json.loads(out.read_text()))


def timed(bench: Bench, texts: list[str], arrivals: float = 0.0) -> PhaseResult:
    chats = bench.setup(texts)
    moments = random.Random(1)  # noqa: S311 - a load's timing, not a secret
    for chat in chats:
        chat.delay = moments.uniform(0.0, arrivals) if arrivals else 0.0
    bench.wait_quiet()
    worker_args: list[tuple[Any, ...]] = [
        (part, bench.server_port, float(bench.args.timeout), bench.connect_concurrency("app"))
        for part in bench.split(chats, "app")
    ]
    on_start = bench.start_profiler if bench.args.py_spy else None
    return bench.run_phase("app", ws_worker, worker_args, on_start=on_start)


def run_repeated(bench: Bench) -> Callable[[], None]:
    args = bench.args
    bench.warmup_texts = lambda: list(QUESTIONS)  # type: ignore[method-assign]
    texts = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.streams)]
    app = timed(bench, texts, args.arrivals)
    summary = runs_summary(bench)
    bench.stop_servers()
    return partial(report_repeated, args, app, summary)


def report_repeated(args: argparse.Namespace, app: PhaseResult, summary: dict[str, Any]) -> None:
    ttft = app.ttft_ms()
    done = app.duration_ms()
    hits = summary["by"].get("cache", 0)
    when = f"within {args.arrivals:g} s" if args.arrivals else "at once"
    print(f"\nrepeated questions: {len(QUESTIONS)} asked once, then {args.streams} {when}; "
          f"answered by {summary['by']}, cache tiers {summary['hits']}")  # fmt: skip
    print(
        f"bench-repeated: streams={args.streams} arrivals_s={args.arrivals:g} "
        f"completed={len(app.completed)} "
        f"hit_rate={hits / args.streams:.3f} ttft_p50_ms={percentile(ttft, 0.5):.1f} "
        f"ttft_p95_ms={percentile(ttft, 0.95):.1f} done_p95_ms={percentile(done, 0.95):.1f} "
        f"saved_tokens={summary['saved_tokens']} saved_cost={summary['saved_cost']}",
        flush=True,
    )


def start_second_simulator(bench: Bench) -> str:
    log = bench.tmp / "simulator-2.log"
    s = bench.schedule
    cmd = [PYTHON, "manage.py", "llm_simulator", "--port", "0", "--ttft-ms",
           f"{s.ttft_ms:g}", "--tokens-per-sec", f"{s.tokens_per_sec:g}",
           "--reply-tokens", str(s.tokens)]  # fmt: skip
    proc = bench.children.start("simulator-2", cmd, env=bench.env, cwd=BASE_DIR, log=log)
    match = wait_for_line(proc, log, r"listening on (http://127\.0\.0\.1:\d+)/v1", timeout=30,
                          what="second simulator")  # fmt: skip
    return match.group(1)


def run_failover(bench: Bench) -> Callable[[], None]:
    args = bench.args
    start_first = bench.start_simulator

    def start_both() -> None:
        start_first()
        second = start_second_simulator(bench)
        bench.manage("shell", "-c", PROVIDERS.format(first=bench.sim_root, second=second))
        bench.sim_control({"drop_rate": args.drop_rate})
        bench.log(f"providers: first {bench.sim_root} (breaks {args.drop_rate:.0%} of its "
                  f"streams halfway), second {second}")  # fmt: skip

    bench.start_simulator = start_both  # type: ignore[method-assign]
    app = timed(bench, [f"bench question {i}" for i in range(args.streams)])
    summary = runs_summary(bench)
    bench.stop_servers()
    return partial(report_failover, args, app, summary)


def report_failover(args: argparse.Namespace, app: PhaseResult, summary: dict[str, Any]) -> None:
    resumed, plain = summary["durations_ms"]["resumed"], summary["durations_ms"]["plain"]
    extra = percentile(resumed, 0.5) - percentile(plain, 0.5)
    print(f"\nfailover: answered by {summary['by']}; {len(resumed)} replies continued by the "
          f"second provider, {summary['attempts_failed']} attempts broken")  # fmt: skip
    print(
        f"bench-failover: streams={args.streams} completed={len(app.completed)} "
        f"failed={args.streams - len(app.completed)} resumed={len(resumed)} "
        f"extra_p50_ms={extra:.1f} resumed_p95_ms={percentile(resumed, 0.95):.1f} "
        f"plain_p95_ms={percentile(plain, 0.95):.1f}",
        flush=True,
    )
