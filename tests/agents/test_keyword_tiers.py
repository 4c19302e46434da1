"""Keyword ranking in a knowledge base too large to rank every match: the distinctive
words' tier (``agents.knowledge.keywords``), on each database.

The limits are made small so that a few dozen passages stand for a large knowledge base:
a word in more than COMMON_MATCHES passages is common, and the any-word tier reads only
RANKED_MAX matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from agents.knowledge import keywords
from agents.knowledge.search import knowledge_search
from tests.agents.test_knowledge_search import document

# Thirty passages about replies, written first (the any-word tier finds them first), and
# the one that answers the question, written last. It holds "fjord" but not "reply".
FILLER = {f"Replies › {n}": f"Every reply number {n} is kept with its title." for n in range(30)}
TARGET = "Fjord trips leave from the north harbour at dawn."
QUESTION = "reply about the fjord glacier"


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(keywords, "RANKED_MAX", 5)
    monkeypatch.setattr(keywords, "COMMON_MATCHES", 10)
    keywords.forget_statistics()
    yield
    keywords.forget_statistics()


def corpus(*, analysed: bool = True) -> None:
    document("Replies", FILLER)
    document("Trips", {"Trips › Fjords": TARGET})
    if analysed and connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # (as autovacuum would, after an ingestion)
            cursor.execute("ANALYZE agents_chunk")


@pytest.mark.django_db
def test_a_rare_word_s_passage_is_found_among_many_with_the_common_word(large: None) -> None:
    corpus()

    hits = knowledge_search(QUESTION, limit=3)

    assert hits[0].text == TARGET
    assert {hit.title for hit in hits[1:]} == {"Replies"}


@pytest.mark.django_db
def test_without_the_distinctive_tier_the_first_matches_read_would_miss_it(
    large: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus()
    monkeypatch.setattr(keywords, "DISTINCTIVE_MAX", 0)  # (the tier ranks nothing)

    hits = knowledge_search(QUESTION, limit=3)

    assert TARGET not in {hit.text for hit in hits}


@pytest.mark.django_db
def test_a_small_knowledge_base_asks_one_keyword_query(
    django_assert_num_queries: Any,
) -> None:
    corpus()
    keywords.forget_statistics()

    # Any word (every match ranked: there were fewer than RANKED_MAX), the rows;
    # PostgreSQL reads its word statistics once every few minutes besides.
    with django_assert_num_queries(2 + (connection.vendor == "postgresql")):
        hits = knowledge_search(QUESTION, limit=50)
    with django_assert_num_queries(2):
        knowledge_search(QUESTION, limit=50)

    assert len(hits) == 31  # (every passage has "reply" or "fjord")


@pytest.mark.django_db
def test_only_words_of_few_passages_are_distinctive(large: None) -> None:
    corpus()
    engine = keywords._Postgres() if connection.vendor == "postgresql" else keywords._Sqlite()

    terms = engine.terms(keywords.query_words(QUESTION))

    # (PostgreSQL leaves the stop words to its parser, which gives them no stem.)
    assert [term.strip('"') for term in engine.distinctive(terms)] == ["fjord", "glacier"]
