"""Knowledge search: keywords per database, embeddings from the simulator, fused by rank.

Documents and chunks are written with the ORM (the database's own triggers or generated
column index them); chunk vectors come from the simulator through ``embed_texts``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.utils import timezone

from agents.knowledge import keywords, search
from agents.knowledge.embeddings import embed_texts, to_bytes
from agents.knowledge.search import knowledge_search, rrf_fuse
from agents.knowledge.types import Hit
from agents.models import Chunk, Document
from agents.pipeline.config import staff_config

GUIDE = {
    "Chatting › Stop": "Press Stop while an answer streams to end it at once.",
    "Chatting › Titles": "Each conversation gets a short title from its first question.",
    "Account › Password": "Change your password on the account page under Security.",
    "Admin › Providers": "Staff add model providers in the admin, each with a priority.",
}


def document(
    title: str,
    passages: dict[str, str],
    *,
    status: str = Document.Status.READY,
    embedded: bool = False,
) -> Document:
    """A document with one chunk per (heading, text), as ingestion would leave it."""
    doc = Document.objects.create(title=title, body=b"", status=status, ingested_at=timezone.now())
    texts = list(passages.values())
    vectors = embed_texts(texts) if embedded else None
    Chunk.objects.bulk_create(
        Chunk(
            document=doc,
            position=position,
            heading_path=heading,
            text=text,
            embedding=None if vectors is None else to_bytes(vectors[position]),
        )
        for position, (heading, text) in enumerate(passages.items())
    )
    return doc


def texts(hits: list[Hit]) -> list[str]:
    return [hit.text for hit in hits]


@pytest.fixture(autouse=True)
def few_passages(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's word statistics as just read, calling no word common (as for these
    small knowledge bases): the query counts below never include reading them."""
    monkeypatch.setattr(keywords, "_common_stems", (time.monotonic(), frozenset()))


@pytest.fixture
def embeddings(settings: Any) -> None:
    settings.ORION_EMBEDDINGS_MODEL = "sim-embed"


# --- fusion, without the database -----------------------------------------------------------


def test_rrf_sums_one_over_k_plus_rank_across_rankings() -> None:
    fused = dict(rrf_fuse([[7, 8, 9], [9, 7]], k=60))

    assert fused[7] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[8] == pytest.approx(1 / 62)
    assert fused[9] == pytest.approx(1 / 63 + 1 / 61)


def test_rrf_puts_agreement_above_one_ranking_s_top_place() -> None:
    # 2 is second in both rankings; 1 and 3 each top one ranking and are absent from the other.
    assert [item for item, _ in rrf_fuse([[1, 2], [3, 2]])] == [2, 1, 3]


def test_rrf_of_one_ranking_keeps_its_order() -> None:
    assert [item for item, _ in rrf_fuse([[5, 3, 9, 1]])] == [5, 3, 9, 1]
    assert rrf_fuse([[5, 3, 9, 1]], limit=2) == [(5, 1 / 61), (3, 1 / 62)]
    assert rrf_fuse([[5, 3, 5]]) == [(5, 1 / 61 + 1 / 63), (3, 1 / 62)]  # (an id twice adds up)
    assert rrf_fuse([[1, 2], [3, 2]], limit=1) == [(2, 1 / 62 + 1 / 62)]


def test_rrf_breaks_ties_by_first_appearance() -> None:
    assert [item for item, _ in rrf_fuse([[4], [2]])] == [4, 2]
    assert rrf_fuse([]) == []


def test_rrf_k_flattens_the_ranks() -> None:
    # A small k lets one ranking's top place win; the default lets agreement win.
    rankings = [[1, 2], [3, 4, 5, 6, 7, 2]]

    assert rrf_fuse(rankings, k=1)[0][0] == 1
    assert rrf_fuse(rankings)[0][0] == 2


# --- keywords -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_keyword_search_ranks_the_right_passage_first() -> None:
    guide = document("User guide", GUIDE)
    document("Release notes", {"1.2": "Faster titles and a new admin page for staff."})

    hits = knowledge_search("how do I change my password?")

    assert hits[0].heading_path == "Account › Password"
    assert hits[0].title == "User guide" and hits[0].document_id == guide.pk
    assert hits[0].text == GUIDE["Account › Password"]
    assert hits[0].score > 0
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


@pytest.mark.django_db
def test_headings_are_searched_too() -> None:
    document("User guide", GUIDE)

    assert knowledge_search("providers")[0].heading_path == "Admin › Providers"


@pytest.mark.django_db
def test_stemming_finds_stop_from_stopping() -> None:
    document("User guide", {"Stop": "Press the button to stop an answer.", **GUIDE})

    hits = knowledge_search("stopping")

    assert hits[0].heading_path == "Stop"


@pytest.mark.django_db
def test_limit_caps_the_hits() -> None:
    document("Guide", {f"Part {n}": f"Titles are chosen, part {n}." for n in range(8)})

    assert len(knowledge_search("titles", limit=3)) == 3
    assert len(knowledge_search("titles")) == 5


@pytest.mark.django_db
def test_a_question_without_words_finds_nothing_and_asks_nothing(
    django_assert_num_queries: Any,
) -> None:
    document("User guide", GUIDE)

    with django_assert_num_queries(0):
        assert knowledge_search("?! ...") == []


HOSTILE = [
    '"',
    'password"',
    '"password',
    "(password",
    "password)",
    "NEAR(password account, 2)",
    "password NEAR account",
    "password*",
    "*",
    "heading_path:password",
    "text : password",
    "^password",
    "password AND OR NOT",
    "- password",
    "!password & account | page <-> change",
    "' OR 1=1 --",
    "'; DROP TABLE agents_chunk; --",
    "password\x00account",
    "%s %(name)s {0}",
    "or or or",
    "passwörd ümlaut 密码",
    "password " * 200,
]


@pytest.mark.django_db
@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_neither_raise_nor_inject(query: str) -> None:
    document("User guide", GUIDE)

    hits = knowledge_search(query)

    assert Chunk.objects.count() == len(GUIDE)
    if "password" in query.lower():
        assert hits[0].heading_path == "Account › Password"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status", [Document.Status.PENDING, Document.Status.PROCESSING, Document.Status.FAILED]
)
def test_documents_that_are_not_ready_are_never_returned(status: str) -> None:
    document("Draft", {"Password": "Reset a forgotten password by mail."}, status=status)
    ready = document("User guide", GUIDE)

    hits = knowledge_search("forgotten password reset")

    assert hits and {hit.document_id for hit in hits} == {ready.pk}


@pytest.mark.django_db
def test_a_small_knowledge_base_takes_one_keyword_query(
    django_assert_num_queries: Any,
) -> None:
    document("User guide", GUIDE)

    with django_assert_num_queries(2):  # one word: the passages, then their rows
        assert knowledge_search("password")
    with django_assert_num_queries(2):  # any of the words (every match ranked), the rows
        assert knowledge_search("password stop")


# --- embeddings -----------------------------------------------------------------------------

# The question's own words "browser", "tab" and "stream" are rare in this corpus, so
# keyword ranking (bm25's rarity weights, ts_rank_cd's match count) puts the long passage
# that only mentions them first. The target says the same as the question in other words,
# sharing only the common "stop" and "reply": cosine similarity, which weighs a passage by
# how much of it is about the question, ranks it first.
QUESTION = "How do I stop a reply mid-stream in the browser tab?"
TARGET = "Press Stop to end the reply."
MENTIONS = (
    "Orion works in any modern browser: each tab keeps its own connection to the server, "
    "and a stream that breaks when the laptop sleeps or the train enters a tunnel picks up "
    "again once the network returns, on phones and desktops alike."
)
COMMON = [
    "Every reply is saved.",
    "Replies cost tokens.",
    "Staff stop abuse.",
    "A reply has a title.",
    "Stop signs are red.",
]


def paraphrase_corpus(*, embedded: bool) -> None:
    passages = {f"Note {n}": text for n, text in enumerate([*COMMON, MENTIONS, TARGET])}
    document("Notes", passages, embedded=embedded)


@pytest.mark.django_db
def test_keyword_search_alone_ranks_the_passing_mentions_first() -> None:
    paraphrase_corpus(embedded=False)

    found = texts(knowledge_search(QUESTION, limit=10))

    assert found[0] == MENTIONS
    assert TARGET in found[1:]


@pytest.mark.django_db
def test_hybrid_search_finds_the_paraphrase_first(embeddings: None) -> None:
    paraphrase_corpus(embedded=True)

    hits = knowledge_search(QUESTION)

    assert hits[0].text == TARGET
    assert MENTIONS in [hit.text for hit in hits]


@pytest.mark.django_db
def test_the_newest_chunks_are_compared_besides_the_keyword_candidates(
    embeddings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    paraphrase_corpus(embedded=True)  # the target is the newest chunk

    # One keyword candidate (the long passage): the target comes from the newest chunks.
    assert TARGET in texts(knowledge_search(QUESTION, candidates=1))

    document("Garden", {"Roses": "Prune roses in early spring."}, embedded=True)
    monkeypatch.setattr(search, "RECENT_CHUNKS", 1)
    assert TARGET not in texts(knowledge_search(QUESTION, candidates=1))


@pytest.mark.django_db
def test_hybrid_search_never_returns_documents_that_are_not_ready(embeddings: None) -> None:
    document("Draft", {"Stop": TARGET}, status=Document.Status.PROCESSING, embedded=True)
    document("Old", {"Stop": TARGET}, status=Document.Status.FAILED, embedded=True)
    ready = document("Notes", {"Titles": "A reply has a title."}, embedded=True)

    hits = knowledge_search(QUESTION)

    assert hits and {hit.document_id for hit in hits} == {ready.pk}


@pytest.mark.django_db
def test_hybrid_search_takes_three_queries_in_a_small_knowledge_base(
    embeddings: None, django_assert_num_queries: Any
) -> None:
    paraphrase_corpus(embedded=True)
    staff_config()  # (the providers are read once, before any search)

    with django_assert_num_queries(3):  # any word, vectors, rows
        assert knowledge_search(QUESTION)


@pytest.mark.django_db
def test_an_embeddings_failure_falls_back_to_keywords(
    embeddings: None, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    paraphrase_corpus(embedded=True)
    settings.ORION_EMBEDDINGS_MODEL = ""
    by_keywords = knowledge_search(QUESTION)
    settings.ORION_EMBEDDINGS_MODEL = "sim-embed"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there

    hits = knowledge_search(QUESTION)

    assert hits == by_keywords and hits[0].text == MENTIONS
    assert "by keywords only" in caplog.text and "could not be reached" in caplog.text


@pytest.mark.django_db
def test_chunks_embedded_by_another_model_are_left_to_keywords(embeddings: None) -> None:
    paraphrase_corpus(embedded=False)
    Chunk.objects.update(embedding=to_bytes([1.0, 0.0, 0.0]))

    hits = knowledge_search(QUESTION)

    assert hits[0].text == MENTIONS


@pytest.mark.django_db
def test_passages_with_all_the_words_come_before_those_with_some() -> None:
    document("Notes", {"One": "Stop the answer.", "Both": "Stop the answer and copy it.",
                       "Other": "Copy the text."})  # fmt: skip
    hits = knowledge_search("stop copy", limit=3)
    assert [hit.heading_path.split(" › ")[-1] for hit in hits][0] == "Both"
    assert {hit.heading_path.split(" › ")[-1] for hit in hits} == {"One", "Both", "Other"}
