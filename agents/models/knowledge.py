"""The knowledge base: documents staff add, and the chunks search reads.

A document keeps what was uploaded or pasted (``body``), so it can be ingested again. Its
chunks are replaced in one transaction by each ingestion: search never sees half a
document. Each chunk's ``embedding`` is float32 bytes (numpy compares them in-process).
Keyword search has no model field: on PostgreSQL a generated ``tsvector`` column with a
GIN index, on SQLite an FTS5 table kept by triggers (migration 0005). pgvector, where it
exists, would be one more column and index there, read by ``agents.knowledge.search``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Document(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text", "plain text"
        MARKDOWN = "markdown", "Markdown"
        HTML = "html", "HTML"
        PDF = "pdf", "PDF"

    class Audience(models.TextChoices):
        EVERYONE = "everyone", "everyone who can chat"
        SIGNED_IN = "signed_in", "people signed in"
        STAFF = "staff", "staff only"

    class Status(models.TextChoices):
        PENDING = "pending", "waiting"
        PROCESSING = "processing", "processing"
        READY = "ready", "ready"
        FAILED = "failed", "failed"

    title = models.CharField(max_length=200)
    source = models.CharField(max_length=500, blank=True, help_text="A file name or address.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TEXT)
    body = models.BinaryField(editable=False)  # as uploaded or pasted
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    audience = models.CharField(
        max_length=16,
        choices=Audience.choices,
        default=Audience.EVERYONE,
        help_text="Who may be answered from this document and open it from a source link.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    stage = models.CharField(max_length=32, blank=True)  # what processing is doing now
    error = models.TextField(blank=True)  # why it failed, in words
    version = models.PositiveIntegerField(default=0)  # one more for each ingestion done
    chunk_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ingested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    heading_path = models.CharField(max_length=500, blank=True)  # "Guide › Chatting › Stop"
    text = models.TextField()
    embedding = models.BinaryField(null=True, blank=True)  # float32, little-endian

    class Meta:
        ordering = ["document", "position"]
        constraints = [
            models.UniqueConstraint(fields=["document", "position"], name="chunk_position"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id} #{self.position}"


AUDIENCE_ORDER = (Document.Audience.EVERYONE, Document.Audience.SIGNED_IN, Document.Audience.STAFF)


def audience_levels(*, signed_in: bool, staff: bool) -> tuple[str, ...]:
    """The audiences whose documents a reader may see: visitors see documents for
    everyone; people signed in those too; staff every document."""
    if staff:
        return tuple(AUDIENCE_ORDER)
    if signed_in:
        return tuple(AUDIENCE_ORDER[:2])
    return tuple(AUDIENCE_ORDER[:1])
