"""Keyword ranking of a small knowledge base in memory, without a query a question.

The chat searches every message's question before the model is called, a burst of them
at once; the databases' full-text search costs ~0.15-0.6 ms a question however small the
knowledge base (SQLite's ``bm25`` gathers its word statistics for every query, PostgreSQL
takes a round trip). Up to ``ORION_KNOWLEDGE_MEMORY_MAX`` passages, each process keeps
their words in a BM25 index (bm25s, with PyStemmer's English stemmer and the same stop
words as the databases' queries) and ranks a burst of questions together
(``burst_scores``: ~0.04 ms a question on the demo guide, ~0.07 at 2,000 passages;
``bench/README.md``, series r26). Larger knowledge bases, and callers that do not name
the knowledge base's version, use the databases (``keywords``).

The index is made for one version of the knowledge base (the snapshot's
``knowledge_version``, which changes whenever a document's chunks, status or audience
do): the first search of a new version reads the ready documents' passages once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from itertools import chain
from typing import Any

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer
from django.conf import settings
from django.db import connection

from agents.knowledge.keywords import STOP_WORDS
from agents.knowledge.visibility import Allowed, visible

# bm25s sets its own logger to DEBUG when imported (a line for every index made).
logging.getLogger("bm25s").setLevel(logging.WARNING)

_STEMMER = Stemmer.Stemmer("english")
_STOP_WORDS = sorted(STOP_WORDS)
_COUNT_SQL = "SELECT count(*) FROM agents_chunk c WHERE {visible}"
_PASSAGES_SQL = (
    "SELECT c.id, c.heading_path, c.text, "
    "(SELECT d.audience FROM agents_document d WHERE d.id = c.document_id) "
    "FROM agents_chunk c WHERE {visible} ORDER BY c.id"
)


@dataclass(frozen=True)
class MemoryIndex:
    """The passages of ready documents of one knowledge-base version, in a BM25 index."""

    ids: npt.NDArray[np.int64]
    audiences: npt.NDArray[np.str_]
    retriever: bm25s.BM25 | None  # None: no passages

    def rank(
        self, queries: list[str], candidates: int, allowed_each: list[Allowed]
    ) -> list[list[int]]:
        """For each query, the ids of the ``candidates`` passages of its allowed audiences
        best matching its words (those sharing none are left out), best first; equal
        scores in the order of the ids."""
        found: list[list[int]] = [[] for _ in queries]
        if self.retriever is None or not queries or candidates <= 0:
            return found
        tokens = bm25s.tokenize(queries, stopwords=_STOP_WORDS, stemmer=_STEMMER,
                                return_ids=False, show_progress=False)  # fmt: skip
        vocabulary = self.retriever.vocab_dict
        scores = burst_scores(
            self.retriever.scores,
            [[vocabulary[t] for t in words if t in vocabulary] for words in tokens],
        )
        for allowed in set(allowed_each):
            if allowed is not None:
                rows = np.flatnonzero([a == allowed for a in allowed_each])
                scores[np.ix_(rows, ~np.isin(self.audiences, allowed))] = 0.0
        for n, row in enumerate(best_first(scores, min(candidates, self.ids.size))):
            found[n] = self.ids[row].tolist()
        return found


def burst_scores(index: dict[str, Any], ids_each: list[list[int]]) -> npt.NDArray[np.float64]:
    """The BM25 score of every passage for each query (a row each), given each query's
    token ids: the sums of the index's precomputed per-token scores (bm25s's ``scores``,
    a column per token), found for the whole burst at once. (bm25s's own ``retrieve``
    adds them up a query and a token at a time, ~30 µs a question; this takes ~0.06 ms
    for 100 questions on the demo guide.)"""
    data, indices, indptr, docs = (index["data"], index["indices"], index["indptr"],
                                   index["num_docs"])  # fmt: skip
    lengths = np.fromiter(map(len, ids_each), dtype=np.intp, count=len(ids_each))
    tokens = np.fromiter(chain.from_iterable(ids_each), dtype=np.intp, count=int(lengths.sum()))
    starts = indptr[tokens].astype(np.intp)
    counts = indptr[tokens + 1].astype(np.intp) - starts
    # Every posting of every token (its place in ``data``), and the query it counts for.
    postings = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    query = np.repeat(np.repeat(np.arange(len(ids_each)), lengths), counts)
    flat = np.bincount(query * docs + indices[postings], weights=data[postings],
                       minlength=len(ids_each) * docs)  # fmt: skip
    return flat.astype(np.float64, copy=False).reshape(len(ids_each), docs)


def best_first(scores: npt.NDArray[np.float64], k: int) -> list[npt.NDArray[np.intp]]:
    """For each row of ``scores``, the columns of its ``k`` best positive scores, best
    first, equal scores in column order."""
    if k < scores.shape[1]:
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    values = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -values), axis=1)
    top, values = np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)
    return [row[value > 0] for row, value in zip(top, values, strict=True)]


_cached: tuple[str, MemoryIndex | None] | None = None
_lock = threading.Lock()


def memory_index(version: str) -> MemoryIndex | None:
    """The index of knowledge-base ``version``, made on its first use in this process;
    None when it holds more than ``ORION_KNOWLEDGE_MEMORY_MAX`` passages (the databases
    rank those). Synchronous: call it on the database thread."""
    global _cached
    with _lock:
        if _cached is not None and _cached[0] == version:
            return _cached[1]
        index = _index_make(settings.ORION_KNOWLEDGE_MEMORY_MAX)
        _cached = (version, index)
        return index


def memory_forget() -> None:
    """Make the index afresh at the next search (tests)."""
    global _cached
    with _lock:
        _cached = None


def _index_make(most: int) -> MemoryIndex | None:
    condition, params = visible("c", None)
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_SQL.format(visible=condition), params)
        (count,) = cursor.fetchone()
        if count > most:
            return None
        cursor.execute(_PASSAGES_SQL.format(visible=condition), params)
        rows = cursor.fetchall()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    audiences = np.array([row[3] for row in rows], dtype=np.str_)
    if not rows:
        return MemoryIndex(ids, audiences, None)
    corpus = bm25s.tokenize([f"{row[1]} {row[2]}" for row in rows], stopwords=_STOP_WORDS,
                            stemmer=_STEMMER, show_progress=False)  # fmt: skip
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    return MemoryIndex(ids, audiences, retriever)
