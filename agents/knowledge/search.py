"""Hybrid search over the chunks of ready documents: keywords fused with embeddings.

Keyword search is hand SQL, one statement per database, because each engine keeps its own
index (migration 0005): PostgreSQL's ``search_vector`` ranked by ``ts_rank_cd``, SQLite's
FTS5 table ranked by ``bm25``. The question's words become a query in each engine's
syntax here, so no text a person types is ever read as an operator.

With embeddings configured, the question's vector is compared in-process with numpy
against the keyword candidates and the most recently ingested chunks, and the two rankings
are fused with reciprocal rank fusion. Without embeddings, or when the provider fails,
search is keyword-only. Three queries at most: keyword candidates, candidates' vectors,
the hits' rows; nothing reads every chunk.
"""

from __future__ import annotations

import json
import logging
import re

import numpy as np
from django.db import NotSupportedError, connection
from django.db.models import Q

from agents.knowledge.embeddings import EmbeddingError, Vectors, embed_texts, from_bytes
from agents.knowledge.types import Hit
from agents.models import Chunk, Document

logger = logging.getLogger(__name__)

# Reciprocal rank fusion's constant: an item at rank r adds 1 / (k + r) per ranking.
# 60 is the value from Cormack, Clarke and Buettcher (SIGIR 2009) and everyone's default:
# large enough that one ranking's top place does not outweigh agreement between both.
RRF_K = 60
# The newest chunks with vectors, compared besides the keyword candidates, so that a
# passage sharing no word with the question can still be found by meaning.
RECENT_CHUNKS = 500
# Words of a question used in the keyword query: a pasted essay stays one cheap query.
MAX_QUERY_WORDS = 32
# Seconds to wait for the question's vector before searching by keywords alone.
EMBED_TIMEOUT = 5.0

_WORD_RE = re.compile(r"\w+")
# English words too common to rank by, which PostgreSQL's 'english' configuration drops
# itself; FTS5 has no such list, and "how do I" would otherwise match every passage.
_STOP_WORD_TEXT = """
a about above after again against all am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for
from further had has have having he her here hers herself him himself his how i if in
into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your
yours yourself yourselves
"""
_STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())
_READY = Document.Status.READY

# Rank at most RANKED_MAX matches: ranking reads each match's vector, and a question of
# common words matches a large share of a big knowledge base (100,000 passages: ~3 s).
# All of the words first (the best matches), then any of them to fill up.
RANKED_MAX = 2000
_POSTGRES_SQL = """
    WITH matched AS (
        SELECT c.id, c.search_vector FROM agents_chunk c
        JOIN agents_document d ON d.id = c.document_id
        WHERE d.status = %s AND c.search_vector @@ websearch_to_tsquery('english', %s)
          AND NOT (c.id = ANY(%s))
        LIMIT %s
    )
    SELECT id FROM matched
    ORDER BY ts_rank_cd(search_vector, websearch_to_tsquery('english', %s)) DESC, id
    LIMIT %s
"""
# bm25() is lower for better matches. FTS5 needs the table's own name beside MATCH.
_SQLITE_SQL = """
    WITH matched AS (
        SELECT rowid AS id, bm25(agents_chunk_fts) AS score FROM agents_chunk_fts
        WHERE agents_chunk_fts MATCH %s LIMIT %s
    )
    SELECT c.id FROM matched
    JOIN agents_chunk c ON c.id = matched.id
    JOIN agents_document d ON d.id = c.document_id
    WHERE d.status = %s AND NOT c.id IN (SELECT value FROM json_each(%s))
    ORDER BY matched.score, c.id
    LIMIT %s
"""


def knowledge_search(query: str, *, limit: int = 5, candidates: int = 50) -> list[Hit]:
    """The ``limit`` best passages for ``query`` from ready documents, best first.

    Synchronous: call it on the database thread. Each hit's score is its fused score.
    """
    words = query_words(query)
    if not words or limit <= 0:
        return []
    rankings = [keyword_ranking(words, candidates)]
    vector = _query_vector(query)
    if vector is not None:
        rankings.append(_vector_ranking(vector, rankings[0], candidates))
    fused = rrf_fuse(rankings)[:limit]
    return _hits(fused)


def query_words(query: str) -> list[str]:
    """The question's distinct words, lower-cased, punctuation and operators dropped."""
    words = dict.fromkeys(word.lower() for word in _WORD_RE.findall(query))
    return list(words)[:MAX_QUERY_WORDS]


def keyword_ranking(words: list[str], candidates: int) -> list[int]:
    """Ids of the ``candidates`` chunks of ready documents best matching ``words``: those
    with all of them first, then those with any."""
    if connection.vendor == "postgresql":
        # Bare words: websearch_to_tsquery reads nothing else as syntax, and drops the
        # English stop words itself (a query of only those matches nothing).
        plain = [word for word in words if word != "or"]
        queries, run = [" ".join(plain), " or ".join(plain)], _postgres_ranking
    elif connection.vendor == "sqlite":
        # Each word a quoted FTS5 string: NEAR, AND, "*" or ":" inside one are plain text.
        quoted = [f'"{word}"' for word in words if word not in _STOP_WORDS]
        if not quoted:
            return []
        queries, run = [" AND ".join(quoted), " OR ".join(quoted)], _sqlite_ranking
    else:
        raise NotSupportedError(f"knowledge search has no keyword index on {connection.vendor}")
    found: list[int] = []
    for text in dict.fromkeys(queries):  # one query when there is one word
        if len(found) >= candidates:
            break
        found += run(text, found, max(0, candidates - len(found)))
    return found


def _postgres_ranking(text: str, exclude: list[int], limit: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(_POSTGRES_SQL, [_READY, text, exclude, RANKED_MAX, text, limit])
        return [row[0] for row in cursor.fetchall()]


def _sqlite_ranking(text: str, exclude: list[int], limit: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(_SQLITE_SQL, [text, RANKED_MAX, _READY, json.dumps(exclude), limit])
        return [row[0] for row in cursor.fetchall()]


def rrf_fuse(rankings: list[list[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: (id, sum over rankings of 1 / (k + rank)), best first.

    Ranks start at 1. Equal scores keep the order in which ids first appear, the
    first ranking before the second.
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def _query_vector(query: str) -> Vectors | None:
    try:
        vectors = embed_texts([query], timeout=EMBED_TIMEOUT)
    except EmbeddingError as exc:
        logger.warning("knowledge search by keywords only: %s", exc)
        return None
    return None if vectors is None else vectors[0]


def _vector_ranking(vector: Vectors, keyword_ids: list[int], candidates: int) -> list[int]:
    """Ids of the ``candidates`` keyword and recent chunks closest to ``vector``."""
    # Each ingestion replaces a document's chunks, so the highest ids are the chunks of
    # the documents ingested last: the primary key's index finds them without a sort.
    recent = (
        Chunk.objects.filter(document__status=_READY, embedding__isnull=False)
        .order_by("-pk")
        .values("pk")[:RECENT_CHUNKS]
    )
    rows = (
        Chunk.objects.filter(Q(pk__in=keyword_ids) | Q(pk__in=recent))
        .filter(document__status=_READY, embedding__isnull=False)
        .order_by("pk")
        .values_list("pk", "embedding")
    )
    ids, matrix = [], []
    for pk, stored in rows:
        stored_vector = from_bytes(stored or b"")
        if stored_vector.shape == vector.shape:  # chunks from another model are skipped
            ids.append(pk)
            matrix.append(stored_vector)
    if not ids:
        return []
    similarity = np.stack(matrix) @ vector
    order = np.argsort(-similarity, kind="stable")[:candidates]  # ties: lower id first
    return [ids[index] for index in order]


def _hits(fused: list[tuple[int, float]]) -> list[Hit]:
    rows = Chunk.objects.filter(pk__in=[pk for pk, _ in fused], document__status=_READY)
    found = {
        row[0]: row
        for row in rows.values_list("pk", "document_id", "document__title", "heading_path", "text")
    }
    return [
        Hit(pk, row[1], row[2], row[3], row[4], score)
        for pk, score in fused
        if (row := found.get(pk)) is not None  # (gone if re-ingested meanwhile)
    ]
