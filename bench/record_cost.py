"""Time storing a burst's run records: 100 runs of seven steps, with and without their
cached answers, as ``runs_store`` writes them, against the ORM's ``bulk_create``.

    .venv/bin/python bench/record_cost.py [--database-url postgres://...] [--rounds 5]

Without ``--database-url`` it uses a temporary SQLite file. The database named in the URL
is written to: give it one of its own. Prints the median milliseconds of each way.
"""

from __future__ import annotations

import argparse
import statistics
import time
from decimal import Decimal
from typing import Any

from dbsetup import migrated_database

STAGES = ("guard", "cache", "route", "retrieve", "tools", "generate", "check")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    tmp = migrated_database(args.database_url, "orion-record-cost-")
    from django.db import transaction

    from agents.models import Run, Step
    from agents.pipeline import runs_store
    from agents.pipeline.records import CachePut, RunRecord

    def records(cached: bool) -> list[tuple[int | None, Any, str, str]]:
        out: list[tuple[int | None, Any, str, str]] = []
        for n in range(args.runs):
            run = RunRecord()
            for name in STAGES:
                run.step(name, time.perf_counter(), "ok", {"n": n})
            if cached:
                key = f"{time.time_ns()}-{n}"
                run.cache_put = CachePut(key, f"question {n}", "word " * 200, "chat.system v1",
                                         "p", "m", 10, 200, Decimal("0.01"))  # fmt: skip
            out.append((None, run, "complete", ""))
        return out

    def orm(items: list[tuple[int | None, Any, str, str]]) -> None:
        runs = Run.objects.bulk_create(
            [
                Run(outcome=o, started_at=r.started_at, answered_by=r.answered_by)
                for _, r, o, _ in items
            ]  # fmt: skip
        )
        Step.objects.bulk_create(
            [
                Step(
                    run=run,
                    position=p,
                    name=s.name,
                    start_ms=s.start_ms,
                    duration_ms=s.duration_ms,
                    outcome=s.outcome,
                    detail=s.detail,
                )
                for run, (_, r, _, _) in zip(runs, items, strict=True)
                for p, s in enumerate(r.steps)
            ]  # fmt: skip
        )

    ways = {
        "runs_store, runs and steps": lambda: runs_store(finished=records(False)),
        "runs_store, with cached answers": lambda: runs_store(finished=records(True)),
        "bulk_create, runs and steps": lambda: orm(records(False)),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            start = time.perf_counter()
            with transaction.atomic():
                way()
            times[name].append((time.perf_counter() - start) * 1000)
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.1f} ms "
              f"({', '.join(f'{v:.1f}' for v in values)})")  # fmt: skip
    tmp.cleanup()


if __name__ == "__main__":
    main()
