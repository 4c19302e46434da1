"""Ingesting documents: from files and folders (``kb_ingest``) and from the admin (upload
or pasted text), chunks swapped whole, failures in words, the knowledge-base version in
the answer cache's keys."""

from __future__ import annotations

import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from agents.knowledge.extract import MAX_BODY_BYTES
from agents.knowledge.ingest import document_ingest, upload_from_file
from agents.models import Chunk, Document
from agents.pipeline.cache import answer_key
from agents.pipeline.config import staff_config
from tests.conftest import BASE_DIR

GUIDE = """# Orion guide

## Stopping an answer

Press Stop, or Esc, to end an answer at once. The text so far stays, marked stopped.

## Sources

Answers from the knowledge base list their sources under the answer.
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.django_db
def test_a_folder_is_ingested_and_files_orion_does_not_read_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "guide.md", GUIDE)
    write(tmp_path, "notes.txt", "Opening hours are nine to five.\n\nClosed on Sundays.")
    write(tmp_path, "page.html", "<h1>Help</h1><script>alert(1)</script><p>Ask anything.</p>")
    write(tmp_path, "archive.zip", b"PK\x03\x04 not read")
    out = StringIO()
    call_command("kb_ingest", str(tmp_path), stdout=out)

    documents = {d.title: d for d in Document.objects.all()}
    # (titled as they title themselves, else by the file's name)
    assert set(documents) == {"Orion guide", "notes", "Help"}
    assert all(d.status == "ready" and d.version == 1 for d in documents.values())
    headings = set(Chunk.objects.filter(document=documents["Orion guide"]).values_list(
        "heading_path", flat=True))  # fmt: skip
    assert "Orion guide › Stopping an answer" in headings
    page_text = " ".join(Chunk.objects.filter(document=documents["Help"]).values_list(
        "text", flat=True))  # fmt: skip
    assert "Ask anything." in page_text and "alert" not in page_text
    assert "passages (v1)" in out.getvalue()
    again = StringIO()
    call_command("kb_ingest", str(tmp_path), stdout=again)  # e.g. the next `make run`
    assert again.getvalue().count(": unchanged") == 3
    assert set(Document.objects.values_list("version", flat=True)) == {1}


@pytest.mark.django_db
def test_the_demo_user_guide_ingests_and_answers_its_own_questions() -> None:
    from agents.knowledge.search import knowledge_search

    call_command("kb_ingest", str(BASE_DIR / "agents" / "knowledge" / "demo"), stdout=StringIO())
    assert Document.objects.filter(status="ready").count() >= 5
    hits = knowledge_search("How do I add a PDF to the knowledge base?", limit=5)
    assert any(hit.title == "The knowledge base" for hit in hits)


@pytest.mark.django_db
def test_ingesting_again_swaps_the_chunks_whole_and_changes_the_cache_keys(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    path = write(tmp_path, "guide.md", GUIDE)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("kb_ingest", str(path), stdout=StringIO())
    before = set(Chunk.objects.values_list("pk", flat=True))
    key_before = (staff_config().knowledge_version, answer_key("How do I stop?", "p", "m"))

    write(tmp_path, "guide.md", GUIDE + "\n## Dark mode\n\nOrion follows the system's theme.\n")
    with django_capture_on_commit_callbacks(execute=True):  # (as the commit would)
        call_command("kb_ingest", str(path), stdout=StringIO())
    document = Document.objects.get()
    after = set(Chunk.objects.values_list("pk", flat=True))
    assert document.version == 2 and not before & after
    assert document.chunk_count == len(after)
    key_after = (staff_config().knowledge_version, answer_key("How do I stop?", "p", "m"))
    assert key_after[0] != key_before[0] and key_after[1] != key_before[1]


@pytest.mark.django_db
def test_a_document_that_fails_says_why_and_keeps_its_last_good_chunks(tmp_path: Path) -> None:
    path = write(tmp_path, "guide.md", GUIDE)
    call_command("kb_ingest", str(path), stdout=StringIO())
    kept = set(Chunk.objects.values_list("pk", flat=True))
    document = Document.objects.get()
    Document.objects.filter(pk=document.pk).update(body=b"\xff\xfe not utf-8 \x00", kind="text")
    document = document_ingest(document_id=document.pk)
    assert document.status == "failed" and document.error
    assert set(Chunk.objects.values_list("pk", flat=True)) == kept

    broken = write(tmp_path, "broken.pdf", b"%PDF-1.7 this is not really a PDF")
    err = StringIO()
    with pytest.raises(CommandError, match="1 of 1 files could not be ingested"):
        call_command("kb_ingest", str(broken), stdout=StringIO(), stderr=err)
    assert "broken.pdf: failed:" in err.getvalue()


# --- the admin ---------------------------------------------------------------------------------


def wait_until_ingested(pk: int, seconds: float = 20.0) -> Document:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        document = Document.objects.get(pk=pk)
        if document.status in ("ready", "failed"):
            return document
        time.sleep(0.05)
    raise AssertionError(f"document {pk} still {Document.objects.get(pk=pk).status}")


@pytest.mark.django_db(transaction=True)
def test_staff_upload_a_file_and_paste_a_text_and_both_are_ingested(
    admin_client: Client,
    celery_worker_process: Any,  # ingestion is a task: a real worker when there is a broker
) -> None:
    url = reverse("admin:agents_document_add")
    upload = SimpleUploadedFile("user-guide.md", GUIDE.encode(), content_type="text/markdown")
    response = admin_client.post(url, {"title": "", "source": "", "upload": upload,
                                       "text": "", "pasted_kind": "markdown",
                                       "audience": "everyone"})  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    document = wait_until_ingested(Document.objects.get(title="Orion guide").pk)  # its heading
    assert (document.status, document.kind, document.uploaded_by.username) == (  # type: ignore[union-attr]
        "ready", "markdown", "root")  # fmt: skip

    admin_client.post(url, {"title": "Hours", "source": "", "text": "Open nine to five.",
                            "pasted_kind": "text", "audience": "signed_in"})  # fmt: skip
    pasted = wait_until_ingested(Document.objects.get(title="Hours").pk)
    assert pasted.status == "ready" and pasted.chunks.get().text == "Open nine to five."
    assert pasted.audience == "signed_in"
    page = admin_client.get(reverse("admin:agents_document_change", args=[pasted.pk]))
    assert "Open nine to five." in page.content.decode()


@pytest.mark.django_db
def test_uploads_orion_cannot_take_are_refused_in_words(
    admin_client: Client, monkeypatch: Any
) -> None:
    url = reverse("admin:agents_document_add")

    def add(**data: Any) -> str:
        fields = {"title": "", "source": "", "text": "", "pasted_kind": "text",
                  "audience": "everyone", **data}  # fmt: skip
        return admin_client.post(url, fields).content.decode()

    assert "is not a kind of file Orion reads" in add(
        upload=SimpleUploadedFile("bomb.zip", b"PK\x03\x04" + b"\x00" * 100)
    )
    big = SimpleUploadedFile("big.txt", b"x" * (MAX_BODY_BYTES + 1))
    assert "at most" in add(upload=big)
    assert "not both" in add(upload=SimpleUploadedFile("a.txt", b"hi"), text="hello")
    assert "Upload a file or paste the text" in add()
    assert "Give the document a title" in add(text="Pasted, but untitled.")
    assert not Document.objects.exists()


def test_an_upload_without_a_title_takes_the_one_it_gives_itself_else_its_file_name() -> None:
    assert upload_from_file("guide.md", GUIDE.encode()).title == "Orion guide"
    assert upload_from_file("guide.md", GUIDE.encode(), title="Ours").title == "Ours"
    front = b"---\ntitle: x\nauthor: me\n---\n\n# **Travel** policy\n\nText."
    assert upload_from_file("policy.md", front).title == "Travel policy"
    # a heading further down names a part, not the document
    assert upload_from_file("set-up.md", b"Intro.\n\n## Installation\n\nRun it.").title == "set up"
    page = b"<html><head><title> Help\n desk </title></head><h1>ACME</h1><p>Hi.</p></html>"
    assert upload_from_file("help.html", page).title == "Help desk"
    assert upload_from_file("help.html", b"<p>Intro.</p><h1>Opening hours</h1>").title == (
        "Opening hours"
    )
    assert upload_from_file("notes_2024.txt", b"# Not a heading in text").title == "notes 2024"
    assert upload_from_file("empty-page.html", b"<script>x()</script>").title == "empty page"
    assert upload_from_file("bad.md", b"# \xff\xfe Caf\xc3\xa9\n\nx").title == "Café"
    assert upload_from_file("long.md", b"# " + b"x" * 300 + b"\n\nText.").title == "x" * 200
    # only the start of a document is read for it: a huge one costs no more
    huge = b"# Big\n\n" + b"<i>a</i> " * 1_000_000
    began = time.perf_counter()
    assert upload_from_file("big.md", huge).title == "Big"
    assert upload_from_file("big.html", b"<h1>Big</h1>" + huge).title == "Big"
    assert time.perf_counter() - began < 5.0  # (parsing all of it took 20 s and more)
