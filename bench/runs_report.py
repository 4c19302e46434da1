"""What the runs recorded, for ``bench/workloads.py``: run by it as
``python bench/runs_report.py OUT.json`` with the app's environment, after a timed run.

Writes ``{"by": {answered_by: count}, "hits": {tier: count}, "saved_tokens": N,
"saved_cost": "...", "resumed": N, "attempts_failed": N, "duration_ms": {...}}``.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def summary() -> dict[str, object]:
    import django

    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()

    from agents.models import Run, Step

    runs = list(Run.objects.filter(kind="reply").values("id", "answered_by", "cache_tier",
                                                          "duration_ms"))  # fmt: skip
    hits = Step.objects.filter(name="cache", outcome="hit").values_list("detail", flat=True)
    resumed_runs = set(
        Step.objects.filter(name="generate", detail__resumed=True).values_list("run_id", flat=True)
    )
    durations: dict[str, list[float]] = {"resumed": [], "plain": []}
    for run in runs:
        if run["answered_by"] == "model" and run["duration_ms"] is not None:
            kind = "resumed" if run["id"] in resumed_runs else "plain"
            durations[kind].append(run["duration_ms"])
    return {
        "by": dict(Counter(run["answered_by"] for run in runs)),
        "hits": dict(Counter(run["cache_tier"] for run in runs if run["cache_tier"])),
        "saved_tokens": sum(
            d.get("saved_tokens_in", 0) + d.get("saved_tokens_out", 0) for d in hits
        ),  # fmt: skip
        "saved_cost": str(sum((Decimal(d.get("saved_cost", "0")) for d in hits), Decimal(0))),
        "attempts_failed": Step.objects.filter(name="generate")
        .exclude(outcome__in=["complete", "skipped"])
        .count(),  # fmt: skip
        "durations_ms": {k: sorted(v) for k, v in durations.items()},
    }


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(summary()))
