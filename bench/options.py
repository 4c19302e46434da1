"""``bench/run.py``'s command line: the options, what is wrong with them together, and the
load-client processes they call for."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import idle
import workloads

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/orion_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Auto --client-procs: a browser-like socket costs the client little (~0.1 ms per frame), the
# OpenAI SDK's typed chunks cost it ~8x more, so the baseline is split sooner.
# An idle socket costs a client only its memory and its share of the opening.
STREAMS_PER_CLIENT_PROC = {"app": 150, "baseline": 50, "idle": 2500}
QUIET_PCT = 30.0  # --wait-quiet: machine-wide busy CPU (% of one core) that counts as quiet
QUIET_SECONDS = 3  # ... for this many seconds in a row


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Concurrent streaming chats against Orion, timed against the simulator.",
    )
    _load_options(parser)
    _setup_options(parser)
    idle.add_options(parser)
    workloads.add_options(parser)
    _profile_options(parser)
    args = parser.parse_args(argv)
    problem = _args_problem(args)
    if problem:
        parser.error(problem)
    args.procs = _client_procs(args)
    return args


def _load_options(parser: argparse.ArgumentParser) -> None:
    """The load and the simulator's schedule."""
    parser.add_argument("--streams", type=int, default=100, help="concurrent chats (100)")
    parser.add_argument("--ttft-ms", type=float, default=200.0, help="simulator ttft (200)")
    parser.add_argument(
        "--tokens-per-sec", type=float, default=50.0, help="simulator token rate (50)"
    )
    parser.add_argument("--tokens", type=int, default=200, help="tokens per reply (200)")
    parser.add_argument(
        "--client-procs",
        type=int,
        default=0,
        help="load-client processes for both runs (0 = auto: one per "
        f"{STREAMS_PER_CLIENT_PROC['app']} streams for the app, one per "
        f"{STREAMS_PER_CLIENT_PROC['baseline']} for the baseline, one per "
        f"{STREAMS_PER_CLIENT_PROC['idle']} idle sockets, at most one per core)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds a stream may take after its send"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the direct-SDK baseline")
    parser.add_argument(
        "--knowledge",
        action="store_true",
        help="load the demo knowledge base and ask questions about it, so every reply is "
        "retrieved for (passages in every prompt; the simulator still answers with "
        "--tokens of prose)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="chats run one at a time before the timed run, so first-request costs (lazy "
        "imports, template compilation) are not measured; 0 measures a cold server (1)",
    )
    parser.add_argument(
        "--no-warm-pool",
        action="store_true",
        help="skip the pool warm-up: once the timed chats' sockets are open, and before their "
        "sends, a burst of --streams one-token chats on conversations of their own fills the "
        "servers' keep-alive pools of model connections, as steady traffic would; without "
        "it the timed burst opens its model connections itself (a cold pool)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each timed run, wait up to this long for the rest of the machine to go "
        f"quiet (< {QUIET_PCT:g}%% of a core busy for {QUIET_SECONDS} s); the machine is "
        "shared (0)",
    )
    parser.add_argument("--json", type=Path, help="also write every number to this JSON file")
    parser.add_argument("--keep-tmp", action="store_true", help="keep logs and the SQLite file")


def _setup_options(parser: argparse.ArgumentParser) -> None:
    """What the server runs on."""
    parser.add_argument(
        "--config",
        choices=("embedded", "services"),
        default="embedded",
        help="embedded: SQLite + in-memory channel layer + locmem cache; "
        "services: PostgreSQL + Redis (DATABASE_URL/REDIS_URL below)",
    )
    parser.add_argument(
        "--server-procs",
        type=int,
        default=1,
        help="server processes (services config only: the in-memory channel layer and cache "
        "are per process); chats are spread over them round-robin, as a proxy would (1)",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="services: PostgreSQL database, dropped and re-created for every run",
    )
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help="services: Redis (keys are prefixed per run and deleted afterwards)",
    )


def _profile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="OUT",
        help="profile the server with py-spy during the run, or the idle window with "
        "--idle-sockets (.svg flamegraph, .txt collapsed stacks, .json speedscope)",
    )
    parser.add_argument(
        "--py-spy-seconds",
        type=int,
        default=0,
        help="how long to profile from the send instant (default: the ideal stream + 2 s; "
        "with --idle-sockets, the idle window)",
    )
    parser.add_argument(
        "--py-spy-extra",
        default="",
        help='more py-spy record options, e.g. --py-spy-extra="--threads --idle"',
    )
    parser.add_argument(
        "--py-spy-bin",
        default=os.environ.get("PY_SPY", "py-spy"),
        help="py-spy executable (default: $PY_SPY or py-spy on PATH)",
    )


def _args_problem(args: argparse.Namespace) -> str:
    """What is wrong with the options together, or ""."""
    if args.streams < 1 or args.tokens < 1 or args.tokens_per_sec <= 0 or args.ttft_ms < 0:
        return "--streams and --tokens must be >= 1, --tokens-per-sec > 0, --ttft-ms >= 0"
    if args.client_procs < 0 or args.warmup < 0:
        return "--client-procs and --warmup must be >= 0"
    if args.server_procs < 1:
        return "--server-procs must be at least 1"
    if args.server_procs > 1 and args.config != "services":
        return "--server-procs > 1 needs --config services (shared channel layer and cache)"
    for url in (args.database_url, args.redis_url):
        if urlsplit(url).hostname not in LOCAL_HOSTS:
            return f"{url}: the benchmark only talks to services on this machine"
    return idle.options_problem(args)


def _client_procs(args: argparse.Namespace) -> dict[str, int]:
    """Load-client processes per phase: --client-procs, or enough for the load, one per core
    at most, never more than there are connections."""
    cores = os.cpu_count() or 1
    load = {"app": args.streams, "baseline": args.streams, "idle": args.idle_sockets}
    return {
        phase: max(
            1,
            min(
                load[phase],
                args.client_procs or min(cores, math.ceil(load[phase] / per_proc)),
            ),
        )
        for phase, per_proc in STREAMS_PER_CLIENT_PROC.items()
    }
