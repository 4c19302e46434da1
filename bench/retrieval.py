"""Knowledge-base search: quality on the labelled questions, latency at scale, ingestion speed.

    .venv/bin/python bench/retrieval.py [--database-url URL] [--chunks 100000] [--queries 200]

1. Ingests the demo user guide (``agents/knowledge/demo/``) twice, keyword-only and with
   the simulator's embeddings, and asks ``bench/retrieval_questions.jsonl``: hit rate at
   5 (the labelled section among the first five passages) and MRR, for each.
2. Adds ``--chunks`` synthetic passages (words drawn from the guide's vocabulary, with
   embeddings) and times ``--queries`` searches, keyword-only and hybrid (p50 / p95 ms;
   hybrid includes embedding the question over HTTP at the in-process simulator).

Without ``--database-url`` a temporary SQLite file is used.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from bench_results import percentile
from dbsetup import BASE_DIR, migrated_database

DEMO = BASE_DIR / "agents" / "knowledge" / "demo"
QUESTIONS = BASE_DIR / "bench" / "retrieval_questions.jsonl"


def ingest_demo() -> float:
    """Ingest the demo guide afresh; returns pages (files) per second."""
    from agents.knowledge.ingest import document_add, document_ingest, upload_from_file
    from agents.models import Document
    from agents.pipeline.config import staff_config_changed

    Document.objects.all().delete()
    files = sorted(DEMO.glob("*.md"))
    began = time.perf_counter()
    for path in files:
        upload = upload_from_file(path.name, path.read_bytes())
        document = document_add(upload=upload, user=None)
        if document_ingest(document_id=document.pk).status != "ready":
            raise SystemExit(f"{path} was not ingested")
    elapsed = time.perf_counter() - began
    staff_config_changed()
    return len(files) / elapsed


def quality() -> tuple[float, float]:
    from agents.knowledge.search import knowledge_search

    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line]
    hits = 0
    reciprocal = 0.0
    for q in questions:
        found = knowledge_search(q["question"], limit=5)
        for rank, hit in enumerate(found, start=1):
            if hit.title == Path(q["file"]).stem.replace("-", " ").replace("_", " ") and (
                hit.heading_path.split(" › ")[-1] == q["heading"]
            ):
                hits += 1
                reciprocal += 1 / rank
                break
    return hits / len(questions), reciprocal / len(questions)


def synthetic(count: int) -> None:
    """``count`` passages in documents of 200, made from the guide's own words."""
    from agents.knowledge.embeddings import to_bytes
    from agents.models import Chunk, Document
    from agents.simulator.text import simulated_embedding

    words = " ".join(p.read_text() for p in DEMO.glob("*.md")).split()
    rng = random.Random(7)
    for start in range(0, count, 200):
        document = Document.objects.create(title=f"synthetic {start}", kind="text", body=b"-",
                                           status="ready", chunk_count=200, version=1)  # fmt: skip
        rows = []
        for n in range(200):
            text = " ".join(rng.choice(words) for _ in range(120))
            vector = simulated_embedding(text)
            rows.append(Chunk(document=document, position=n, heading_path="Synthetic",
                              text=text, embedding=to_bytes(vector)))  # fmt: skip
        Chunk.objects.bulk_create(rows)


def latency(queries: int) -> tuple[float, float]:
    from agents.knowledge.search import knowledge_search

    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()]
    times = []
    for n in range(queries):
        began = time.perf_counter()
        knowledge_search(questions[n % len(questions)], limit=5)
        times.append((time.perf_counter() - began) * 1000)
    return percentile(times, 0.5), percentile(times, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    tmp = migrated_database(args.database_url, "orion-retrieval-")
    from django.conf import settings
    from django.db import connection

    from agents.simulator import SimulatorConfig, run_in_thread

    try:
        with run_in_thread(SimulatorConfig(port=0, ttft_ms=0)) as sim:
            settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = sim.base_url, "bench"
            for model in ("", "sim-embed"):
                settings.ORION_EMBEDDINGS_MODEL = model
                pages = ingest_demo()
                hit_rate, mrr = quality()
                label = "hybrid" if model else "keyword"
                print(
                    f"retrieval-quality: db={connection.vendor} mode={label} hit_rate_at_5="
                    f"{hit_rate:.3f} mrr={mrr:.3f} ingest_pages_per_s={pages:.1f}"
                )
            began = time.perf_counter()
            synthetic(args.chunks)
            print(f"synthetic: {args.chunks} passages in {time.perf_counter() - began:.0f} s")
            for model in ("", "sim-embed"):
                settings.ORION_EMBEDDINGS_MODEL = model
                latency(10)  # warm
                p50, p95 = latency(args.queries)
                label = "hybrid" if model else "keyword"
                print(f"retrieval-latency: db={connection.vendor} mode={label} "
                      f"chunks={args.chunks} p50_ms={p50:.1f} p95_ms={p95:.1f}")  # fmt: skip
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    main()
