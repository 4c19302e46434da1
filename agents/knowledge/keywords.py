"""Keyword ranking of chunks, one hand-written statement per database.

Each engine keeps its own index (migration 0005): PostgreSQL's ``search_vector`` ranked by
``ts_rank``, SQLite's FTS5 table ranked by ``bm25``. The question's words become a query in
each engine's syntax here, so no text a person types is ever read as an operator.

A question is first asked with any of its words, ranking at most RANKED_MAX matches. When
there were no more (a knowledge base of a few thousand passages), every match was ranked
and that is the answer: one statement. Otherwise, and straight away when PostgreSQL's
planner statistics already call some of the words common, it is asked in tiers, each
only while fewer than ``candidates`` are found:

1. all of its words, ranking at most RANKED_MAX matches;
2. any of its *distinctive* words, ranking at most DISTINCTIVE_MAX matches. A word is
   distinctive when at most COMMON_MATCHES passages hold it: in a large knowledge base a
   question's common words match a large share of all passages, the RANKED_MAX read of
   those would be merely the first found, and a passage holding none of the rare words
   cannot rank well anyway. PostgreSQL's statistics say which words are common (read
   once every STATISTICS_SECONDS); FTS5 counts each word's passages up to that number;
3. any of its words, to fill up.

``bench/retrieval.py`` measures what each tier costs and buys at 100,000 passages.
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.db import NotSupportedError, connection

from agents.knowledge.visibility import Allowed, allowed_of, listed, visible

# Rank at most RANKED_MAX matches of the any-word query and of tier 1: ranking reads each
# match's indexed words, and common words match a large share of a big knowledge base.
RANKED_MAX = 500
# Passages a word may be in and still be distinctive, and the matches tier 2 ranks at most.
COMMON_MATCHES = 2_000
DISTINCTIVE_MAX = 10_000
# PostgreSQL's statistics of the indexed words are read again after this many seconds.
STATISTICS_SECONDS = 300.0
# Words of a question used in the keyword query: a pasted essay stays one cheap query.
MAX_QUERY_WORDS = 32

_WORD_RE = re.compile(r"\w+")
# English words too common to rank by (PostgreSQL's 'english' configuration drops these
# itself; FTS5 has no such list, and "how do I" would otherwise match every passage).
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
STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())

# PostgreSQL. The GIN index's matches come from a MATERIALIZED CTE, which the planner
# plans as one scan for all of them and which is read lazily, as far as the LIMIT needs
# (each match ranked as it is read). Without it, with a LIMIT, the planner read the table
# in order testing each row's words (~70 ms at 100,000 passages). Only ids and scores go
# on: carrying the indexed words further spilled them to temporary files. The last column
# counts the matches ranked: the LIMIT reached means there were more.
_POSTGRES_SQL = """
    WITH matched AS MATERIALIZED (
        SELECT id, document_id,
               ts_rank(search_vector, websearch_to_tsquery('english', %s)) AS score
        FROM agents_chunk WHERE search_vector @@ websearch_to_tsquery('english', %s)
    ), kept AS (
        SELECT m.id, m.score FROM matched m
        WHERE {visible} AND NOT (m.id = ANY(%s))
        LIMIT %s
    )
    SELECT id, count(*) OVER () FROM kept ORDER BY score DESC, id LIMIT %s
"""
# SQLite. bm25() is lower for better matches; FTS5 needs the table's own name beside
# MATCH. The documents are filtered before the LIMIT, so that a visitor's search still
# ranks RANKED_MAX matches when the first ones are staff's.
_SQLITE_SQL = """
    WITH matched AS (
        SELECT agents_chunk_fts.rowid AS id, bm25(agents_chunk_fts) AS score
        FROM agents_chunk_fts JOIN agents_chunk c ON c.id = agents_chunk_fts.rowid
        WHERE agents_chunk_fts MATCH %s AND {visible}
          AND NOT c.id IN (SELECT value FROM json_each(%s))
        LIMIT %s
    )
    SELECT id, count(*) OVER () FROM matched ORDER BY score, id LIMIT %s
"""
# SQLite: how many passages hold each word, counted up to a cap (FTS5 walks the word's
# list of passages, no ranking). One sub-select per word.
_SQLITE_COUNT = (
    "(SELECT count(*) FROM (SELECT 1 FROM agents_chunk_fts "
    "WHERE agents_chunk_fts MATCH %s LIMIT %s))"
)
# PostgreSQL: the indexed words the planner's statistics call common, with the share of
# rows holding each, and the table's row count.
_POSTGRES_STATISTICS = """
    SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs,
           (SELECT reltuples FROM pg_class WHERE oid = 'agents_chunk'::regclass)
    FROM pg_stats s
    WHERE s.schemaname = current_schema() AND s.tablename = 'agents_chunk'
      AND s.attname = 'search_vector'
"""
# (read at, the common words' stems); reset by tests
_common_stems: tuple[float, frozenset[str]] | None = None


def query_words(query: str) -> list[str]:
    """The question's distinct words, lower-cased, punctuation and operators dropped (the
    first ``MAX_QUERY_WORDS``)."""
    return text_words(query)[:MAX_QUERY_WORDS]


def text_words(text: str) -> list[str]:
    """A text's distinct words, lower-cased, punctuation and operators dropped, in order."""
    return list(dict.fromkeys(word.lower() for word in _WORD_RE.findall(text)))


def keyword_ranking(words: list[str], candidates: int, audiences: Any = None) -> list[int]:
    """Ids of the ``candidates`` chunks of ready documents of ``audiences`` (None: any)
    best matching ``words``, in the tiers the module describes."""
    allowed = allowed_of(audiences)
    if allowed == ():
        return []
    if connection.vendor == "postgresql":
        engine: _Engine = _Postgres()
    elif connection.vendor == "sqlite":
        engine = _Sqlite()
    else:
        raise NotSupportedError(f"knowledge search has no keyword index on {connection.vendor}")
    terms = engine.terms(words)
    if not terms:
        return []
    anyof: list[int] | None = None
    if not engine.known_large():
        anyof, overflowed = engine.rank(engine.any_of(terms), [], candidates, RANKED_MAX, allowed)
        if not overflowed or len(terms) == 1:
            return anyof  # every match ranked (or the one word's first RANKED_MAX)
    found: list[int] = []
    if len(terms) > 1:
        found += engine.rank(engine.all_of(terms), found, candidates, RANKED_MAX, allowed)[0]
    if len(found) < candidates:
        found += _rank_distinctive(engine, engine.distinctive(terms), terms, found, candidates,
                                   allowed)  # fmt: skip
    if len(found) < candidates:
        if anyof is None:
            anyof = engine.rank(
                engine.any_of(terms), found, candidates - len(found), RANKED_MAX, allowed
            )[0]
        seen = set(found)
        found += [pk for pk in anyof if pk not in seen][: candidates - len(found)]
    return found


def _rank_distinctive(
    engine: _Engine,
    rare: list[str],
    terms: list[str],
    found: list[int],
    candidates: int,
    allowed: Allowed,
) -> list[int]:
    """Tier 2: the best matches of any of the ``rare`` words (none when every word is
    rare, or none is: the any-word query asks the same)."""
    if not rare or len(rare) == len(terms):
        return []
    return engine.rank(
        engine.any_of(rare), found, candidates - len(found), DISTINCTIVE_MAX, allowed
    )[0]


class _Engine:
    def known_large(self) -> bool:
        """Whether the engine knows, without asking, that some words are common: the
        any-word query would overflow, so it is not asked first."""
        return False

    def terms(self, words: list[str]) -> list[str]:
        raise NotImplementedError

    def all_of(self, terms: list[str]) -> str:
        raise NotImplementedError

    def any_of(self, terms: list[str]) -> str:
        raise NotImplementedError

    def distinctive(self, terms: list[str]) -> list[str]:
        raise NotImplementedError

    def statement(
        self, text: str, exclude: list[int], limit: int, ranked: int, allowed: Allowed
    ) -> tuple[str, list[Any]]:
        """The ranking statement and its parameters (see ``rank``)."""
        raise NotImplementedError

    def rank(
        self, text: str, exclude: list[int], limit: int, ranked: int, allowed: Allowed
    ) -> tuple[list[int], bool]:
        """The ``limit`` best of at most ``ranked`` matches of ``text`` (not ``exclude``),
        and whether there were more matches than ``ranked``."""
        sql, params = self.statement(text, exclude, limit, ranked, allowed)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return [row[0] for row in rows], bool(rows) and rows[0][1] >= ranked


class _Postgres(_Engine):
    def known_large(self) -> bool:
        return bool(postgres_common_stems())

    # Bare words: websearch_to_tsquery reads nothing else as syntax, and drops the English
    # stop words itself (a query of only those matches nothing).
    def terms(self, words: list[str]) -> list[str]:
        plain = [word for word in words if word != "or"]
        return [] if all(word in STOP_WORDS for word in plain) else plain

    def all_of(self, terms: list[str]) -> str:
        return " ".join(terms)

    def any_of(self, terms: list[str]) -> str:
        return " or ".join(terms)

    def distinctive(self, terms: list[str]) -> list[str]:
        """The words none of whose stems is common (stop words have none: left out); all
        of them when the statistics call no word common (nothing asked then: the tier
        would be the any-word query again)."""
        common = postgres_common_stems()
        if not common:
            return terms
        with connection.cursor() as cursor:
            cursor.execute("SELECT w, tsvector_to_array(to_tsvector('english', w)) "
                           "FROM unnest(%s::text[]) AS w", [terms])  # fmt: skip
            stems = dict(cursor.fetchall())
        return [word for word in terms if stems.get(word) and common.isdisjoint(stems[word])]

    def statement(
        self, text: str, exclude: list[int], limit: int, ranked: int, allowed: Allowed
    ) -> tuple[str, list[Any]]:
        condition, params = visible("m", allowed)
        return _POSTGRES_SQL.format(visible=condition), [
            text, text, *params, exclude, ranked, limit
        ]  # fmt: skip


class _Sqlite(_Engine):
    def terms(self, words: list[str]) -> list[str]:
        # Each word a quoted FTS5 string: NEAR, AND, "*" or ":" inside one are plain text.
        return [f'"{word}"' for word in words if word not in STOP_WORDS]

    def all_of(self, terms: list[str]) -> str:
        return " AND ".join(terms)

    def any_of(self, terms: list[str]) -> str:
        return " OR ".join(terms)

    def distinctive(self, terms: list[str]) -> list[str]:
        sql = "SELECT " + ", ".join([_SQLITE_COUNT] * len(terms))
        with connection.cursor() as cursor:
            cursor.execute(sql, [p for term in terms for p in (term, COMMON_MATCHES + 1)])
            counts = cursor.fetchone()
        return [term for term, count in zip(terms, counts, strict=True) if count <= COMMON_MATCHES]

    def statement(
        self, text: str, exclude: list[int], limit: int, ranked: int, allowed: Allowed
    ) -> tuple[str, list[Any]]:
        condition, params = visible("c", allowed)
        return _SQLITE_SQL.format(visible=condition), [
            text, *params, listed(exclude), ranked, limit
        ]  # fmt: skip


def postgres_common_stems() -> frozenset[str]:
    """The stems the planner's statistics say more than COMMON_MATCHES passages hold
    (empty before the table was first analysed), read at most every STATISTICS_SECONDS."""
    global _common_stems
    now = time.monotonic()
    if _common_stems is not None and now - _common_stems[0] < STATISTICS_SECONDS:
        return _common_stems[1]
    with connection.cursor() as cursor:
        cursor.execute(_POSTGRES_STATISTICS)
        row = cursor.fetchone()
    common: frozenset[str] = frozenset()
    if row is not None and row[0]:
        stems, shares, rows = row
        common = frozenset(
            stem for stem, share in zip(stems, shares, strict=False)
            if share * max(rows, 0) > COMMON_MATCHES
        )  # fmt: skip
    _common_stems = (now, common)
    return common


def forget_statistics() -> None:
    """Read PostgreSQL's statistics afresh at the next search (tests)."""
    global _common_stems
    _common_stems = None
