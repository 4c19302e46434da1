"""The read-only document a source links to: who may open it, which page, what changed."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from agents.knowledge import reading
from agents.models import Chunk, Document

pytestmark = pytest.mark.django_db


def document(audience: str = "everyone", *, passages: int = 3, status: str = "ready") -> Document:
    doc = Document.objects.create(title="Guide <b>", body=b"", status=status, audience=audience,
                                  chunk_count=passages)  # fmt: skip
    Chunk.objects.bulk_create(
        Chunk(document=doc, position=n, heading_path=f"Part {n}",
              text=f"Passage {n} text.\n\n<script>alert({n})</script>")
        for n in range(passages)
    )  # fmt: skip
    return doc


def url(doc: Document, **query: Any) -> str:
    tail = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/knowledge/documents/{doc.pk}/" + (f"?{tail}" if tail else "")


def test_a_visitor_reads_a_document_for_everyone_with_the_cited_passage_marked() -> None:
    doc = document()
    cited = doc.chunks.get(position=1)
    response = Client().get(url(doc, passage=cited.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="passage-{cited.pk}" class="passage cited"' in page
    assert "Guide &lt;b&gt;" in page and "<script>alert" not in page  # text, never markup
    assert page.count('<section id="passage-') == 3


@pytest.mark.parametrize(
    ("audience", "who", "status"),
    [("signed_in", "visitor", 302), ("signed_in", "alice", 200), ("staff", "alice", 404),
     ("staff", "visitor", 404), ("staff", "staff", 200)],
)  # fmt: skip
def test_each_reader_sees_only_the_documents_of_their_audience(
    audience: str, who: str, status: int, alice: User, staff: User
) -> None:
    doc = document(audience)
    client = Client()
    if who != "visitor":
        client.force_login(alice if who == "alice" else staff)
    response = client.get(url(doc))
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("status", ["pending", "processing", "failed"])
def test_a_document_not_ready_is_not_found(status: str) -> None:
    assert Client().get(url(document(status=status))).status_code == 404


def test_a_missing_document_and_odd_parameters_are_handled() -> None:
    assert Client().get("/knowledge/documents/999999/").status_code == 404
    doc = document()
    for query in ({"passage": "abc"}, {"page": "-1"}, {"page": "9999"}, {"passage": "9" * 40}):
        assert Client().get(url(doc, **query)).status_code == 200


def test_a_passage_gone_since_the_answer_is_said_so() -> None:
    doc = document()
    response = Client().get(url(doc, passage=987654))
    assert 'data-part="passage-gone"' in response.content.decode()


def test_a_long_document_opens_at_the_page_holding_the_passage(monkeypatch: Any) -> None:
    monkeypatch.setattr(reading, "PASSAGES_PER_PAGE", 10)
    doc = document(passages=35)
    cited = doc.chunks.get(position=27)
    page = Client().get(url(doc, passage=cited.pk)).content.decode()
    assert "Page 3 of 4" in page and f'id="passage-{cited.pk}"' in page
    assert 'data-passage="19"' not in page and 'data-passage="20"' in page
