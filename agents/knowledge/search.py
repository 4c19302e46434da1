"""Hybrid search over the chunks of ready documents: keywords fused with embeddings.

Keywords are ranked by each database's own index (``keywords``). With embeddings
configured, the question's vector is compared in-process with numpy against the keyword
candidates and the most recently ingested chunks, and the two rankings are fused with
reciprocal rank fusion. Without embeddings, or when the provider fails, search is
keyword-only.

Every statement sees only the documents of the audiences asked for (``Document.audience``;
``audience_levels`` says which a reader may see). ``knowledge_search_many`` answers a burst
of questions together: one embeddings call for all of them, each question's keyword
queries, one read of the vectors of every candidate and of the newest chunks, one read of
the hits' rows. Nothing reads every chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import connection

from agents.knowledge.embeddings import EmbeddingError, Vectors, embed_texts
from agents.knowledge.keywords import STOP_WORDS, keyword_ranking, query_words
from agents.knowledge.memory import memory_index
from agents.knowledge.types import Hit
from agents.knowledge.visibility import (
    Allowed,
    Audiences,
    allowed_of,
    listed,
    listed_in,
    sees,
    visible,
)

logger = logging.getLogger(__name__)

# Reciprocal rank fusion's constant: an item at rank r adds 1 / (k + r) per ranking.
# 60 is the value from Cormack, Clarke and Buettcher (SIGIR 2009) and everyone's default:
# large enough that one ranking's top place does not outweigh agreement between both.
RRF_K = 60
# The newest chunks with vectors (of the audiences asked for), compared besides the
# keyword candidates, so that a passage sharing no word with the question can still be
# found by meaning.
RECENT_CHUNKS = 500
# Seconds to wait for the questions' vectors before searching by keywords alone.
EMBED_TIMEOUT = 5.0
_STORED = np.dtype("<f4")  # as ``embeddings.to_bytes`` writes them

# The newest chunks with vectors that one audience set may see (the primary key's index,
# read backwards), tagged with the set's place in the batch.
_RECENT_SQL = """
    SELECT * FROM (
        SELECT c.id, %s AS part FROM agents_chunk c
        WHERE c.embedding IS NOT NULL AND {visible}
        ORDER BY c.id DESC LIMIT %s
    ) r
"""


def knowledge_search(
    query: str, *, limit: int = 5, candidates: int = 50, audiences: Audiences = None
) -> list[Hit]:
    """The ``limit`` best passages for ``query`` from ready documents whose audience is
    one of ``audiences`` (None: every document), best first.

    Synchronous: call it on the database thread. Each hit's score is its fused score.
    """
    return knowledge_search_many(
        [query], limit=limit, candidates=candidates, audiences_each=[audiences]
    )[0]


def knowledge_search_many(
    queries: Sequence[str],
    *,
    limit: int = 5,
    candidates: int = 50,
    audiences_each: Sequence[Audiences] | None = None,
    version: str | None = None,
) -> list[list[Hit]]:
    """``knowledge_search`` for each of ``queries``, with the audiences at the same place
    of ``audiences_each`` (None: every document for all).

    One embeddings call for all the questions, their keyword queries, one read of the
    vectors, one of the rows. Naming the knowledge base's ``version`` (the snapshot's)
    lets a small one be ranked in memory instead of by a query a question (``memory``).
    Synchronous: call it on the database thread.
    """
    if audiences_each is None:
        audiences_each = [None] * len(queries)
    elif len(audiences_each) != len(queries):
        raise ValueError(f"{len(queries)} queries but {len(audiences_each)} audience lists")
    allowed = [allowed_of(audiences) for audiences in audiences_each]
    words = [query_words(query) for query in queries]
    asked = [n for n in range(len(queries)) if words[n] and allowed[n] != () and limit > 0]
    found: list[list[Hit]] = [[] for _ in queries]
    if not asked:
        return found
    index = memory_index(version) if version is not None else None
    if index is not None:
        by_words = index.rank([queries[n] for n in asked], candidates, [allowed[n] for n in asked])
        rankings = {n: [ranking] for n, ranking in zip(asked, by_words, strict=True)}
    else:
        rankings = {n: [keyword_ranking(words[n], candidates, allowed[n])] for n in asked}
    vectors = _query_vectors([queries[n] for n in asked])
    if vectors is not None:
        by_vector = _vector_rankings(
            vectors, [rankings[n][0] for n in asked], [allowed[n] for n in asked], candidates
        )
        for n, ranking in zip(asked, by_vector, strict=True):
            rankings[n].append(ranking)
    fused = {n: rrf_fuse(rankings[n], limit=limit) for n in asked}
    rows = _rows({pk for pairs in fused.values() for pk, _ in pairs})
    for n in asked:
        found[n] = [
            Hit(pk, row[0], row[1], row[2], row[3], score)
            for pk, score in fused[n]
            # (gone if re-ingested meanwhile, or its document now for another audience)
            if (row := rows.get(pk)) is not None and sees(allowed[n], row[4])
        ]
    return found


def rrf_fuse(
    rankings: list[list[int]], k: int = RRF_K, limit: int | None = None
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: (id, sum over rankings of 1 / (k + rank)), best first, the
    first ``limit`` of them (None: all).

    Ranks start at 1. Equal scores keep the order in which ids first appear, the
    first ranking before the second.
    """
    if len(rankings) == 1 and len(set(rankings[0])) == len(rankings[0]):
        # (one ranking of distinct ids, keywords alone: its own order, scored)
        return [(item, 1.0 / (k + rank)) for rank, item in enumerate(rankings[0][:limit], 1)]
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])[:limit]


def _query_vectors(queries: list[str]) -> Vectors | None:
    """One row per query, from one embeddings call (``embed_texts`` sends up to 64 texts a
    request); None without embeddings or when the provider fails: keywords alone then."""
    try:
        return embed_texts(queries, timeout=EMBED_TIMEOUT)
    except EmbeddingError as exc:
        logger.warning("knowledge search by keywords only: %s", exc)
        return None


def _vector_rankings(
    vectors: Vectors, keyword_each: list[list[int]], allowed_each: list[Allowed], candidates: int
) -> list[list[int]]:
    """For each query's vector, the ids of the ``candidates`` chunks closest to it among
    its own keyword candidates and the RECENT_CHUNKS newest chunks it may see."""
    sets = sorted(set(allowed_each), key=lambda allowed: () if allowed is None else allowed)
    ids, matrix, newest = _candidate_vectors(
        {pk for ranking in keyword_each for pk in ranking}, sets, vectors.shape[1]
    )
    if not ids.size:
        return [[] for _ in keyword_each]
    similarity = matrix @ vectors.T  # (chunks, queries); all of unit length
    rankings = []
    for column, (keyword_ids, allowed) in enumerate(zip(keyword_each, allowed_each, strict=True)):
        own = np.flatnonzero(np.isin(ids, keyword_ids))
        rows = np.union1d(newest[sets.index(allowed)], own)  # ascending: ties to the lower id
        order = np.argsort(-similarity[rows, column], kind="stable")[:candidates]
        rankings.append(ids[rows[order]].tolist())
    return rankings


def _candidate_vectors(
    keyword_ids: set[int], sets: list[Allowed], dims: int
) -> tuple[npt.NDArray[np.int64], Vectors, list[npt.NDArray[np.intp]]]:
    """In one statement, the vectors of the keyword candidates and of each audience set's
    RECENT_CHUNKS newest chunks: (ids ascending, their vectors, for each set the rows of
    its newest chunks). Vectors of another length (another model's) are left out.

    The ids are gathered first and the chunks read by primary key: asked for as "among the
    candidates or among the newest", PostgreSQL read every chunk (170 ms at 100,000).
    """
    parts = [
        "SELECT unnest(%s::bigint[]) AS id, -1 AS part"
        if connection.vendor == "postgresql"
        else "SELECT value AS id, -1 AS part FROM json_each(%s)"
    ]
    params: list[Any] = [listed(sorted(keyword_ids))]
    for part, allowed in enumerate(sets):
        condition, visible_params = visible("c", allowed)
        parts.append(_RECENT_SQL.format(visible=condition))
        params += [part, *visible_params, RECENT_CHUNKS]
    sql = (
        "SELECT c.id, w.part, c.embedding FROM agents_chunk c "  # noqa: S608
        f"JOIN ({' UNION ALL '.join(parts)}) w ON w.id = c.id WHERE c.embedding IS NOT NULL"
    )
    stored: dict[int, bytes] = {}
    newest: list[list[int]] = [[] for _ in sets]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for pk, part, vector in cursor.fetchall():
            if len(vector) == dims * _STORED.itemsize:
                stored.setdefault(pk, vector)
                if part >= 0:
                    newest[part].append(pk)
    ids = np.fromiter(sorted(stored), dtype=np.int64, count=len(stored))
    blob = b"".join(bytes(stored[pk]) for pk in ids.tolist())  # decoded once, for all
    matrix = np.frombuffer(blob, dtype=_STORED).reshape(ids.size, dims).astype(np.float32)
    return ids, matrix, [np.searchsorted(ids, sorted(pks)) for pks in newest]


def _rows(pks: set[int]) -> dict[int, tuple[int, str, str, str, str]]:
    """pk: (document id, title, heading path, text, audience) of those of ``pks`` that are
    chunks of ready documents."""
    if not pks:
        return {}
    condition, params = visible("c", None)
    sql = (
        "SELECT c.id, c.document_id, "  # noqa: S608
        "(SELECT d.title FROM agents_document d WHERE d.id = c.document_id), "
        "c.heading_path, c.text, "
        "(SELECT d.audience FROM agents_document d WHERE d.id = c.document_id) "
        f"FROM agents_chunk c WHERE {listed_in('c.id')} AND {condition}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [listed(sorted(pks)), *params])
        return {row[0]: row[1:] for row in cursor.fetchall()}


__all__ = [
    "STOP_WORDS",
    "keyword_ranking",
    "knowledge_search",
    "knowledge_search_many",
    "query_words",
    "rrf_fuse",
]
