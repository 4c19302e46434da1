"""Knowledge-base search: quality on the labelled questions, latency at scale, ingestion speed.

    .venv/bin/python bench/retrieval.py [--database-url URL] [--chunks 100000] [--queries 200]

1. Ingests the demo user guide (``agents/knowledge/demo/``) twice, keyword-only and with
   the simulator's embeddings, and asks ``bench/retrieval_questions.jsonl``: hit rate at
   5 (the labelled section among the first five passages) and MRR, for each; then the
   cost per question of a burst (``--burst`` questions in one ``knowledge_search_many``,
   and the same one ``knowledge_search`` at a time).
2. Adds ``--chunks`` synthetic passages, the guide ingested again halfway through (so
   that its passages are neither the first read nor the newest), with the simulator's
   embeddings. The passages are made of words drawn by Zipf's law from a vocabulary of
   50,000 (English function words, the guide's words, made-up English-looking words),
   100-250 words each under headings, 10-120 per document, 10% of documents for staff
   only and 20% for people signed in. Then: the labelled questions again, among all
   those passages (``scale`` quality), ``--queries`` searches one at a time (p50 / p95
   ms, for every audience and for visitors; hybrid includes embedding the question over
   HTTP at the in-process simulator), and a burst of 20.

Without ``--database-url`` a temporary SQLite file is used. Planner statistics are
gathered (``ANALYZE``) after the synthetic passages are added, as autovacuum would soon
do, unless ``--no-analyze``. Django runs with DEBUG off, as served.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time

from bench_results import percentile
from dbsetup import BASE_DIR, migrated_database

DEMO = BASE_DIR / "agents" / "knowledge" / "demo"
QUESTIONS = BASE_DIR / "bench" / "retrieval_questions.jsonl"
SEED = 7


def ingest_demo(*, alone: bool = True) -> float:
    """Ingest the demo guide afresh (``alone``: removing every other document); returns
    pages (files) per second."""
    from agents.knowledge.ingest import document_add, document_ingest, upload_from_file
    from agents.models import Document
    from agents.pipeline.config import staff_config_changed

    files = sorted(DEMO.glob("*.md"))
    documents = Document.objects.all()
    (documents if alone else documents.filter(source__in=[p.name for p in files])).delete()
    began = time.perf_counter()
    for path in files:
        upload = upload_from_file(path.name, path.read_bytes())
        document = document_add(upload=upload, user=None)
        if document_ingest(document_id=document.pk).status != "ready":
            raise SystemExit(f"{path} was not ingested")
    elapsed = time.perf_counter() - began
    staff_config_changed()
    return len(files) / elapsed


def questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()]


def quality(version: str | None = None) -> tuple[float, float]:
    """Hit rate at 5 and MRR of the labelled questions (``version``: ranked in memory,
    as the chat does for a small knowledge base)."""
    from agents.knowledge.search import knowledge_search_many
    from agents.models import Document

    labelled = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line]
    files = dict(Document.objects.filter(source__endswith=".md").values_list("source", "pk"))
    hits = 0
    reciprocal = 0.0
    for q in labelled:
        (found,) = knowledge_search_many([q["question"]], limit=5, version=version)
        for rank, hit in enumerate(found, start=1):
            if hit.document_id == files.get(q["file"]) and (
                hit.heading_path.split(" › ")[-1] == q["heading"]
            ):
                hits += 1
                reciprocal += 1 / rank
                break
    return hits / len(labelled), reciprocal / len(labelled)


# The synthetic corpus: words drawn by Zipf's law (frequency ~ 1 / rank) from a vocabulary
# of VOCABULARY words: English function words first (about half of running text), then the
# guide's and the questions' own words spread among made-up English-looking words up to
# rank CONTENT_RANKS, then made-up words only. A question's words thus match from a third
# of all passages (the commonest) down to a few dozen, as in real documents.
VOCABULARY = 50_000
CONTENT_RANKS = 5_000
TOPIC_SHARE = 0.15  # of a passage's words drawn from its document's own 25 topic words
_FUNCTION_WORDS = """
the of and to a in is that it for as with was on be by this are or at from have an not
but which you they his we all were there one their has been can more if will would who
so its about what when them some than other into only these then also out up time may
could do two any first new most such like over our how each very after many between
through where should those just because did while both before same under well use used
here must does being own get make way even every since again down much still why without
"""
_ONSETS = "b c d f g h j l m n p r s t v w b c d l m p r s t br cr dr gr pl pr sh st tr ch"
_VOWELS = "a e i o u a e i o a e ea ou"
_CODAS = ["", "", "", "n", "r", "l", "s", "t", "m", "nd", "st", "ck", "ng"]
_SUFFIXES = [""] * 8 + ["s", "s", "ing", "ed", "er", "ion", "ly", "ment"]


def _words(text: str) -> list[str]:
    return text.split()


def vocabulary() -> list[str]:
    """VOCABULARY distinct lower-case words, commonest first (see above)."""
    rng = random.Random(SEED)
    function_words = _words(_FUNCTION_WORDS)
    onsets, vowels = _words(_ONSETS), _words(_VOWELS)
    texts = [p.read_text() for p in sorted(DEMO.glob("*.md"))] + [QUESTIONS.read_text()]
    real = sorted({w.lower() for t in texts for w in re.findall(r"[A-Za-z]{2,}", t)})
    real = [w for w in real if w not in set(function_words)]
    taken = set(real) | set(function_words)
    made: list[str] = []
    while len(made) < VOCABULARY - len(taken):
        syllables = rng.choice((1, 2, 2, 2, 3))
        word = "".join(
            rng.choice(onsets) + rng.choice(vowels) + rng.choice(_CODAS) for _ in range(syllables)
        )
        word += rng.choice(_SUFFIXES)
        if len(word) > 3 and word not in taken:
            taken.add(word)
            made.append(word)
    content = real + made[: CONTENT_RANKS - len(real)]
    rng.shuffle(content)
    return function_words + content + made[CONTENT_RANKS - len(real) :]


def synthetic(count: int, seed: int) -> None:
    """``count`` passages in documents of 10-120 passages, 100-250 words each in sentences,
    under headings (document title › section), with the simulator's embeddings.
    Audiences: 70% everyone, 20% signed in, 10% staff."""
    import numpy as np

    from agents.knowledge.embeddings import to_bytes
    from agents.models import Chunk, Document
    from agents.simulator.text import simulated_embedding

    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    words = np.array(vocabulary())
    zipf = np.cumsum(1.0 / np.arange(1, len(words) + 1))
    zipf /= zipf[-1]
    content = len(_words(_FUNCTION_WORDS))  # the first rank of a heading's or topic's words

    def draw(n: int, first: int = 0) -> list[str]:
        low = zipf[first - 1] if first else 0.0
        return [str(w) for w in words[np.searchsorted(zipf, nrng.uniform(low, 1.0, n))]]

    def sentences(tokens: list[str]) -> str:
        out, at = [], 0
        while at < len(tokens):
            part = tokens[at : at + rng.randint(6, 22)]
            out.append(" ".join([part[0].capitalize(), *part[1:]]) + ".")
            at += len(part)
        return " ".join(out)

    made = 0
    while made < count:
        size = min(rng.randint(10, 120), count - made)
        topic = draw(25, first=content)
        title = " ".join(draw(rng.randint(2, 4), first=content)).capitalize()
        audience = rng.choices(["everyone", "signed_in", "staff"], [7, 2, 1])[0]
        document = Document.objects.create(
            title=title, kind="text", body=b"-", status="ready", audience=audience,
            chunk_count=size, version=1,
        )  # fmt: skip
        rows, section = [], title
        for n in range(size):
            if n % rng.randint(2, 6) == 0:
                section = " ".join(draw(rng.randint(1, 4), first=content)).capitalize()
            tokens = draw(rng.randint(100, 250))
            for at in range(len(tokens)):
                if rng.random() < TOPIC_SHARE:
                    tokens[at] = rng.choice(topic)
            heading, text = f"{title} › {section}", sentences(tokens)
            vector = simulated_embedding(f"{heading}\n{text}")
            rows.append(Chunk(document=document, position=n, heading_path=heading[:500],
                              text=text, embedding=to_bytes(vector)))  # fmt: skip
        Chunk.objects.bulk_create(rows, batch_size=500)
        made += size


def latency(queries: int, audiences: tuple[str, ...] | None) -> tuple[float, float]:
    """p50 and p95 ms of one search at a time."""
    from agents.knowledge.search import knowledge_search

    asked = questions()
    times = []
    for n in range(queries):
        began = time.perf_counter()
        knowledge_search(asked[n % len(asked)], limit=5, audiences=audiences)
        times.append((time.perf_counter() - began) * 1000)
    return percentile(times, 0.5), percentile(times, 0.95)


def burst_cost(
    size: int, rounds: int, version: str | None = None, *, singly: bool = True
) -> tuple[float, float | None]:
    """ms per question, median of ``rounds``: ``size`` questions in one
    ``knowledge_search_many`` (``version``: ranked in memory), and (``singly``) the same
    questions one ``knowledge_search`` each."""
    from agents.knowledge.search import knowledge_search, knowledge_search_many

    asked = (questions() * (size // 70 + 1))[:size]
    audiences = [("everyone", "signed_in")] * size
    batch, single = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        knowledge_search_many(asked, limit=5, audiences_each=audiences, version=version)
        batch.append((time.perf_counter() - began) * 1000 / size)
        if not singly:
            continue
        began = time.perf_counter()
        for question, allowed in zip(asked, audiences, strict=True):
            knowledge_search(question, limit=5, audiences=allowed)
        single.append((time.perf_counter() - began) * 1000 / size)
    return percentile(batch, 0.5), percentile(single, 0.5) if single else None


def analyze() -> None:
    """Fresh planner statistics, as autovacuum would soon have after a large ingestion."""
    from django.db import connection

    from agents.knowledge.keywords import forget_statistics

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    forget_statistics()  # (read every few minutes: the guide's alone were read before)


MODES = {"keyword": "", "hybrid": "sim-embed"}  # the embeddings model of each
# Up to this many synthetic passages, the scale runs also rank a burst in memory.
MEMORY_SCALE_MAX = 5_000


def guide_runs(db: str, burst: int) -> None:
    """The guide alone: quality (by the database, and ranked in memory), ingestion, and
    the cost of a burst."""
    from django.conf import settings

    from agents.models import Chunk

    for mode, model in MODES.items():
        settings.ORION_EMBEDDINGS_MODEL = model
        pages = ingest_demo()
        hit_rate, mrr = quality()
        print(f"retrieval-quality: db={db} mode={mode} hit_rate_at_5={hit_rate:.3f} "
              f"mrr={mrr:.3f} ingest_pages_per_s={pages:.1f}")  # fmt: skip
        hit_rate, mrr = quality(version=f"bench-{mode}")
        print(f"retrieval-quality: db={db} mode={mode} ranked=memory "
              f"hit_rate_at_5={hit_rate:.3f} mrr={mrr:.3f}")  # fmt: skip
        batch, _ = burst_cost(burst, rounds=5, version=f"bench-{mode}", singly=False)
        print(f"retrieval-burst: db={db} mode={mode} ranked=memory "
              f"queries={burst} batch_ms_per_query={batch:.3f}")  # fmt: skip
        batch, single = burst_cost(burst, rounds=5)
        print(f"retrieval-burst: db={db} mode={mode} chunks={Chunk.objects.count()} "
              f"queries={burst} batch_ms_per_query={batch:.3f} "
              f"single_ms_per_query={single:.3f}")  # fmt: skip


def memory_runs(db: str, mode: str, burst: int) -> None:
    """A burst's cost ranked in memory, and the time to make the index."""
    from django.conf import settings

    from agents.knowledge.memory import memory_forget, memory_index
    from agents.models import Chunk

    chunks = Chunk.objects.count()
    settings.ORION_KNOWLEDGE_MEMORY_MAX = chunks
    memory_forget()
    began = time.perf_counter()
    memory_index(f"bench-scale-{mode}")
    made = (time.perf_counter() - began) * 1000
    batch, _ = burst_cost(burst, rounds=5, version=f"bench-scale-{mode}", singly=False)
    print(f"retrieval-burst: db={db} mode={mode} chunks={chunks} ranked=memory "
          f"index_made_ms={made:.0f} queries={burst} batch_ms_per_query={batch:.3f}")  # fmt: skip


def scale_runs(db: str, chunks: int, queries: int, no_analyze: bool, burst: int) -> None:
    """The guide among ``chunks`` synthetic passages: quality, latency, a burst's cost."""
    from django.conf import settings

    began = time.perf_counter()
    synthetic(chunks // 2, seed=SEED)
    ingest_demo(alone=False)  # (with vectors: the model is the hybrid's)
    synthetic(chunks - chunks // 2, seed=SEED + 1)
    if not no_analyze:
        analyze()
    print(f"synthetic: {chunks} passages in {time.perf_counter() - began:.0f} s"
          f"{' (no ANALYZE)' if no_analyze else ''}")  # fmt: skip
    for mode, model in MODES.items():
        settings.ORION_EMBEDDINGS_MODEL = model
        hit_rate, mrr = quality()
        print(f"retrieval-quality: db={db} mode={mode} scale={chunks} "
              f"hit_rate_at_5={hit_rate:.3f} mrr={mrr:.3f}")  # fmt: skip
        for audiences in (None, ("everyone",)):
            latency(10, audiences)  # warm
            p50, p95 = latency(queries, audiences)
            who = "all" if audiences is None else ",".join(audiences)
            print(f"retrieval-latency: db={db} mode={mode} chunks={chunks} "
                  f"audiences={who} p50_ms={p50:.1f} p95_ms={p95:.1f}")  # fmt: skip
        batch, single = burst_cost(20, rounds=3)
        print(f"retrieval-burst: db={db} mode={mode} chunks={chunks} "
              f"queries=20 batch_ms_per_query={batch:.2f} "
              f"single_ms_per_query={single:.2f}")  # fmt: skip
        if chunks <= MEMORY_SCALE_MAX:  # ranked in memory too, the limit raised to fit
            memory_runs(db, mode, burst)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--chunks", type=int, default=100_000, help="0: the guide alone")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--burst", type=int, default=100, help="questions in one batch")
    parser.add_argument("--no-analyze", action="store_true",
                        help="time the synthetic passages without planner statistics")  # fmt: skip
    args = parser.parse_args()
    tmp = migrated_database(args.database_url, "orion-retrieval-")
    from django.conf import settings
    from django.db import connection

    from agents.simulator import SimulatorConfig, run_in_thread

    settings.DEBUG = False  # as served: no query log, no debug cursor
    try:
        with run_in_thread(SimulatorConfig(port=0, ttft_ms=0)) as sim:
            settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = sim.base_url, "bench"
            guide_runs(connection.vendor, args.burst)
            if args.chunks > 0:
                scale_runs(
                    connection.vendor, args.chunks, args.queries, args.no_analyze, args.burst
                )
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    main()
