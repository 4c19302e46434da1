"""Ingesting a document: extract → chunk → embed → index, then swap its chunks.

``document_ingest`` runs the whole pipeline for one document (a Celery task in
``agents.tasks``; in-process with the embedded defaults; inline from ``kb_ingest``).
Progress shows in the admin through ``stage``; a document that cannot be ingested is
``failed`` with the reason in words. The old chunks are replaced by the new ones in one
transaction, so search sees either version whole, never half of one; while a document
is ingested again its last good chunks stay searchable, and a failed attempt marks it
failed (out of search until it is fixed) but keeps them. Each ingestion makes every
process reload staff's configuration, whose knowledge-base version is part of the answer
cache's keys.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents.knowledge.chunking import passages_make
from agents.knowledge.embeddings import EmbeddingError, Vectors, embed_texts, to_bytes
from agents.knowledge.extract import document_blocks, document_title, kind_for_name
from agents.knowledge.types import IngestError, Passage
from agents.models import Chunk, Document
from agents.pipeline.config import staff_config_changed

logger = logging.getLogger(__name__)

Status = Document.Status
UNEXPECTED = "Something went wrong while reading it; the server's log says what."


def _stage(document_id: int, stage: str) -> None:
    """Show what ingestion is doing. A document searched already stays searchable (its
    last good chunks) while it is ingested again."""
    Document.objects.filter(pk=document_id, chunk_count=0).update(
        stage=stage, status=Status.PROCESSING
    )
    Document.objects.filter(pk=document_id, chunk_count__gt=0).update(stage=stage)


def document_ingest(*, document_id: int) -> Document:
    """Ingest the document now; never raises for a bad document (it is marked failed)."""
    document = Document.objects.get(pk=document_id)
    try:
        _stage(document.pk, "extracting")
        blocks = document_blocks(document.kind, bytes(document.body))
        _stage(document.pk, "chunking")
        passages = passages_make(blocks)
        if not passages:
            raise IngestError("No text was found in it.")
        _stage(document.pk, "embedding")
        try:
            vectors = embed_texts([f"{p.heading_path}\n{p.text}" for p in passages])
        except EmbeddingError as exc:
            raise IngestError(f"The embeddings could not be made: {exc}") from exc
        _stage(document.pk, "indexing")
        _chunks_swap(document.pk, passages, vectors)
    except IngestError as exc:
        _failed(document.pk, str(exc))
    except Exception:
        logger.exception("document %s not ingested", document.pk)
        _failed(document.pk, UNEXPECTED)
    return Document.objects.get(pk=document.pk)


def _chunks_swap(document_id: int, passages: list[Passage], vectors: Vectors | None) -> None:
    rows = [
        Chunk(document_id=document_id, position=n, heading_path=p.heading_path[:500],
              text=p.text, embedding=to_bytes(vectors[n]) if vectors is not None else None)
        for n, p in enumerate(passages)
    ]  # fmt: skip
    with transaction.atomic():
        Document.objects.select_for_update().filter(pk=document_id).first()
        Chunk.objects.filter(document_id=document_id).delete()
        Chunk.objects.bulk_create(rows, batch_size=500)
        Document.objects.filter(pk=document_id).update(
            status=Status.READY, stage="", error="", chunk_count=len(rows),
            version=F("version") + 1, ingested_at=timezone.now(),
        )  # fmt: skip
        transaction.on_commit(staff_config_changed)


def _failed(document_id: int, why: str) -> None:
    Document.objects.filter(pk=document_id).update(status=Status.FAILED, stage="", error=why)


@dataclass(frozen=True, slots=True)
class Upload:
    """A file or a text staff give the knowledge base."""

    title: str
    source: str
    kind: str
    body: bytes


def upload_from_file(name: str, body: bytes, *, title: str = "") -> Upload:
    """An upload of a file called ``name``; raises ``IngestError`` for a kind Orion does
    not read (a zip file, a program)."""
    kind = kind_for_name(name)
    if kind is None:
        raise IngestError(
            f"“{name}” is not a kind of file Orion reads: use plain text (.txt), Markdown "
            "(.md), HTML (.html) or PDF (.pdf)."
        )
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("_", " ").replace("-", " ")
    title = title or document_title(kind, body) or stem or name
    return Upload(title=title[:200], source=name[:500], kind=kind, body=body)


def document_add(*, upload: Upload, user: AbstractBaseUser | AnonymousUser | None) -> Document:
    """Store ``upload`` as a document waiting to be ingested."""
    return Document.objects.create(
        title=upload.title, source=upload.source, kind=upload.kind, body=upload.body,
        uploaded_by_id=user.pk if isinstance(user, AbstractBaseUser) else None,
    )  # fmt: skip
