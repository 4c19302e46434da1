"""A small knowledge base ranked in memory (``agents.knowledge.memory``), on each database:
the same passages, audiences and readiness as the databases' search, no query a question.
"""

from __future__ import annotations

from typing import Any

import bm25s
import numpy as np
import pytest

from agents.knowledge.memory import best_first, burst_scores, memory_index
from agents.knowledge.search import knowledge_search_many
from agents.models import Document
from tests.agents.test_knowledge_audiences import STAFF_NOTE
from tests.agents.test_knowledge_search import GUIDE, document

pytestmark = pytest.mark.django_db


def headings(hits: list[Any]) -> list[str]:
    return [hit.heading_path for hit in hits]


def test_a_burst_is_ranked_with_one_read_of_the_passages_and_one_of_the_hits(
    django_assert_num_queries: Any,
) -> None:
    document("User guide", GUIDE)
    questions = ["How do I stop an answer?", "where do I change my password", "providers"]

    with django_assert_num_queries(3):  # the index: its count and passages; the hits' rows
        found = knowledge_search_many(questions, limit=2, version="v1")
    with django_assert_num_queries(1):  # the index is kept for its version: the rows alone
        again = knowledge_search_many(questions, limit=2, version="v1")

    assert again == found
    assert [hits[0].heading_path for hits in found] == [
        "Chatting › Stop", "Account › Password", "Admin › Providers"
    ]  # fmt: skip


def test_it_finds_what_the_database_finds_first(settings: Any) -> None:
    document("User guide", GUIDE)
    questions = ["stopping an answer", "my password", "a conversation's title", "priority"]

    in_memory = knowledge_search_many(questions, limit=1, version="v1")
    settings.ORION_KNOWLEDGE_MEMORY_MAX = 0
    by_database = knowledge_search_many(questions, limit=1, version="v2")

    assert [headings(h) for h in in_memory] == [headings(h) for h in by_database]


def test_an_asker_finds_only_the_audiences_they_may_see() -> None:
    document("User guide", GUIDE)
    staff = document("Runbook", STAFF_NOTE)
    Document.objects.filter(pk=staff.pk).update(audience=Document.Audience.STAFF)

    visitor, member = knowledge_search_many(
        ["rotate the provider password"] * 2, version="v1",
        audiences_each=[("everyone",), ("everyone", "signed_in", "staff")],
    )  # fmt: skip

    assert "Runbook" not in {hit.title for hit in visitor} and visitor
    assert member[0].title == "Runbook"


def test_documents_that_are_not_ready_are_left_out() -> None:
    document("Draft", {"Draft › Stop": "Stop means stop."}, status=Document.Status.PROCESSING)
    document("User guide", GUIDE)

    (hits,) = knowledge_search_many(["stop"], version="v1")

    assert {hit.title for hit in hits} == {"User guide"}


def test_a_new_version_makes_the_index_again() -> None:
    document("User guide", GUIDE)
    assert knowledge_search_many(["glacier"], version="v1") == [[]]
    document("Trips", {"Trips › North": "The glacier walk starts at nine."})

    assert knowledge_search_many(["glacier"], version="v1") == [[]]  # (still v1's index)
    (hits,) = knowledge_search_many(["glacier"], version="v2")
    assert [hit.title for hit in hits] == ["Trips"]


def test_a_larger_knowledge_base_is_left_to_the_database(
    settings: Any, django_assert_num_queries: Any
) -> None:
    document("User guide", GUIDE)
    settings.ORION_KNOWLEDGE_MEMORY_MAX = len(GUIDE) - 1

    assert memory_index("v1") is None
    # (v1 is known to be too large: the keyword query, then the rows)
    with django_assert_num_queries(2):
        (hits,) = knowledge_search_many(["password"], version="v1")
    assert hits[0].heading_path == "Account › Password"


@pytest.mark.parametrize("question", ["", "?!", "the and of", "zzzz qqqq", "' OR 1=1 --"])
def test_questions_without_known_words_find_nothing(question: str) -> None:
    document("User guide", GUIDE)

    assert knowledge_search_many([question], version="v1") == [[]]


def test_an_empty_knowledge_base_finds_nothing() -> None:
    assert knowledge_search_many(["stop"], version="v1") == [[]]


def test_a_burst_scores_each_passage_as_bm25s_does_one_question_at_a_time() -> None:
    corpus = [
        "stop the answer with the stop button",
        "change your password in the account page",
        "providers are tried in order; stop a provider",
        "the answer streams token by token",
    ]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, show_progress=False), show_progress=False)
    questions = [["stop", "answer"], ["password"], [], ["stop", "stop", "provid"], ["unknown"]]
    vocabulary = retriever.vocab_dict
    ids_each = [[vocabulary[t] for t in words if t in vocabulary] for words in questions]

    burst = burst_scores(retriever.scores, ids_each)

    assert burst.shape == (len(questions), len(corpus))
    for row, ids in zip(burst, ids_each, strict=True):
        alone = retriever.get_scores(ids) if ids else np.zeros(len(corpus))
        assert np.allclose(row, alone, atol=1e-5)
    assert burst[0].argmax() == 0 and burst[1].argmax() == 1 and not burst[4].any()


def test_the_best_come_first_equal_scores_in_passage_order_and_none_without_a_match() -> None:
    scores = np.array([[0.5, 2.0, 0.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0], [1, 2, 3, 4, 5.0]])

    assert [row.tolist() for row in best_first(scores, 3)] == [[1, 3, 4], [], [4, 3, 2]]
    assert [row.tolist() for row in best_first(scores, 9)] == [[1, 3, 4, 0], [], [4, 3, 2, 1, 0]]
