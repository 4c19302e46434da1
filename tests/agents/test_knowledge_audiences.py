"""Knowledge search by audience, and a burst of questions at once: each asker finds only
the documents they may see, and a burst finds what each search alone finds, with one
embeddings call and one read of the vectors and of the rows."""

from __future__ import annotations

from typing import Any

import pytest

from agents.knowledge import search
from agents.knowledge.embeddings import embed_texts
from agents.knowledge.search import knowledge_search, knowledge_search_many
from agents.knowledge.types import Hit
from agents.models import Document
from agents.pipeline.config import staff_config
from tests.agents.test_knowledge_search import (
    GUIDE,
    QUESTION,
    TARGET,
    document,
    embeddings,
    few_passages,
    paraphrase_corpus,
    texts,
)

__all__ = ["embeddings", "few_passages"]  # (fixtures: the search tests' own)

# --- audiences ------------------------------------------------------------------------------

STAFF_NOTE = {"Admin › Keys": "Rotate the provider password in the vault every month."}
ALL_AUDIENCES = ("everyone", "signed_in", "staff")


def audience_corpus(*, embedded: bool = False) -> tuple[Document, Document, Document]:
    """A guide for everyone, a page for people signed in and a staff note, all about
    passwords; the staff note is the newest."""
    guide = document("User guide", GUIDE, embedded=embedded)
    member = document("Members", {"Account › Reset": "Reset a forgotten password by mail."},
                      embedded=embedded)  # fmt: skip
    staff = document("Runbook", STAFF_NOTE, embedded=embedded)
    Document.objects.filter(pk=member.pk).update(audience=Document.Audience.SIGNED_IN)
    Document.objects.filter(pk=staff.pk).update(audience=Document.Audience.STAFF)
    return guide, member, staff


def documents_of(hits: list[Hit]) -> set[int]:
    return {hit.document_id for hit in hits}


@pytest.mark.django_db
@pytest.mark.parametrize("embedded", [False, True], ids=["keyword", "hybrid"])
def test_a_staff_document_is_found_only_by_staff(embedded: bool, settings: Any) -> None:
    settings.ORION_EMBEDDINGS_MODEL = "sim-embed" if embedded else ""
    guide, member, staff = audience_corpus(embedded=embedded)
    question = "how do I rotate the provider password?"

    everyone = knowledge_search(question, audiences=("everyone",), limit=10)
    signed_in = knowledge_search(question, audiences=("everyone", "signed_in"), limit=10)
    staff_hits = knowledge_search(question, audiences=ALL_AUDIENCES, limit=10)

    assert staff.pk not in documents_of(everyone) and guide.pk in documents_of(everyone)
    assert documents_of(signed_in) == {guide.pk, member.pk}
    assert staff_hits[0].document_id == staff.pk
    assert documents_of(staff_hits) == {guide.pk, member.pk, staff.pk}
    assert knowledge_search(question, limit=10) == staff_hits  # None: every audience


@pytest.mark.django_db
def test_the_newest_chunks_compared_are_those_the_asker_may_see(
    embeddings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    paraphrase_corpus(embedded=True)  # the target is the newest chunk visible to everyone
    staff = document("Runbook", {"Stop": "Press Stop to end the reply, staff."}, embedded=True)
    Document.objects.filter(pk=staff.pk).update(audience=Document.Audience.STAFF)
    monkeypatch.setattr(search, "RECENT_CHUNKS", 1)

    # One keyword candidate (the long passage): the newest chunk comes by its vector.
    visitor = knowledge_search(QUESTION, candidates=1, audiences=("everyone",))
    staff_hits = knowledge_search(QUESTION, candidates=1, audiences=ALL_AUDIENCES)

    assert TARGET in texts(visitor) and staff.pk not in documents_of(visitor)
    assert staff.pk in documents_of(staff_hits) and TARGET not in texts(staff_hits)


@pytest.mark.django_db
def test_no_audience_finds_nothing_and_asks_nothing(django_assert_num_queries: Any) -> None:
    document("User guide", GUIDE)

    with django_assert_num_queries(0):
        assert knowledge_search("password", audiences=()) == []


@pytest.mark.django_db
def test_a_document_whose_audience_changes_leaves_those_who_may_not_see_it() -> None:
    guide = document("User guide", GUIDE)
    assert knowledge_search("password", audiences=("everyone",))

    Document.objects.filter(pk=guide.pk).update(audience=Document.Audience.STAFF)

    assert knowledge_search("password", audiences=("everyone",)) == []
    assert knowledge_search("password", audiences=ALL_AUDIENCES)


# --- a burst of questions at once -----------------------------------------------------------

BURST = [
    "how do I change my password?",
    "?! ...",
    "How do I stop a reply mid-stream in the browser tab?",
    "providers",
    "rotate the provider password",
]
BURST_AUDIENCES = [("everyone",), ALL_AUDIENCES, ("everyone", "signed_in"), ALL_AUDIENCES,
                   ("everyone",)]  # fmt: skip


def burst_corpus(*, embedded: bool) -> None:
    audience_corpus(embedded=embedded)
    paraphrase_corpus(embedded=embedded)


@pytest.mark.django_db
@pytest.mark.parametrize("embedded", [False, True], ids=["keyword", "hybrid"])
def test_a_burst_finds_what_each_search_alone_finds(embedded: bool, settings: Any) -> None:
    settings.ORION_EMBEDDINGS_MODEL = "sim-embed" if embedded else ""
    burst_corpus(embedded=embedded)

    found = knowledge_search_many(BURST, limit=4, audiences_each=BURST_AUDIENCES)

    assert found == [
        knowledge_search(question, limit=4, audiences=audiences)
        for question, audiences in zip(BURST, BURST_AUDIENCES, strict=True)
    ]
    assert found[0][0].heading_path == "Account › Password" and found[1] == []
    assert found[4] and "Runbook" not in {hit.title for hit in found[4]}


@pytest.mark.django_db
def test_a_burst_without_audiences_searches_every_document() -> None:
    burst_corpus(embedded=False)

    found = knowledge_search_many(BURST)

    assert found == [knowledge_search(question) for question in BURST]
    assert found[4][0].title == "Runbook"


@pytest.mark.django_db
def test_a_burst_embeds_its_questions_in_one_call_and_reads_vectors_and_rows_once(
    embeddings: None, django_assert_num_queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    burst_corpus(embedded=True)
    staff_config()  # (the providers are read once, before any search)
    calls: list[list[str]] = []

    def embed(texts: list[str], **kwargs: Any) -> Any:
        calls.append(list(texts))
        return embed_texts(texts, **kwargs)

    monkeypatch.setattr(search, "embed_texts", embed)
    questions = [question for question in BURST if question != "?! ..."] * 5  # 20
    audiences = [("everyone",), ALL_AUDIENCES] * 10

    # Each question's keyword query (every match ranked: a small knowledge base), then the
    # vectors of every candidate and of each audience set's newest chunks, then the rows
    # of every hit.
    with django_assert_num_queries(len(questions) + 2):
        found = knowledge_search_many(questions, audiences_each=audiences)

    assert calls == [questions]
    assert all(found) and len(found) == 20


@pytest.mark.django_db
def test_a_burst_of_nothing_asks_nothing(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert knowledge_search_many([]) == []
        assert knowledge_search_many(["?!", "the"]) == [[], []]


def test_a_burst_needs_one_audience_list_per_question() -> None:
    with pytest.raises(ValueError):
        knowledge_search_many(["a", "b"], audiences_each=[("everyone",)])
