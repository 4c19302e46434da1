"""``manage.py kb_ingest PATH...``: add files and folders to the knowledge base and ingest
them now, one line each (for bulk loads, ``make run``'s demo guide and tests). A file
already added from the same path is ingested again if its content changed, and left
alone if not. Files Orion does not read are skipped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.knowledge.extract import kind_for_name
from agents.knowledge.ingest import document_add, document_ingest, upload_from_file
from agents.knowledge.types import IngestError
from agents.models import Document

UNCHANGED = Document(title="unchanged")  # a file ingested already, as it is now


class Command(BaseCommand):
    help = "Add files and folders (plain text, Markdown, HTML, PDF) to the knowledge base."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        files = [f for path in options["paths"] for f in _files(path)]
        failed = 0
        for file in files:
            document = _document(file)
            if document is None:
                self.stderr.write(f"{file}: skipped (not a kind of file Orion reads)")
                continue
            if document is UNCHANGED:
                self.stdout.write(f"{file}: unchanged")
                continue
            document = document_ingest(document_id=document.pk)
            if document.status == Document.Status.READY:
                self.stdout.write(f"{file}: {document.chunk_count} passages (v{document.version})")
            else:
                failed += 1
                self.stderr.write(f"{file}: failed: {document.error}")
        if failed:
            raise CommandError(f"{failed} of {len(files)} files could not be ingested.")


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and kind_for_name(p.name))
    if not path.exists():
        raise CommandError(f"{path} does not exist.")
    return [path]


def _document(file: Path) -> Document | None:
    try:
        upload = upload_from_file(file.name, file.read_bytes())
    except IngestError:
        return None
    source = str(file)
    existing = Document.objects.filter(source=source).first()
    if (
        existing is not None
        and existing.status == Document.Status.READY
        and (bytes(existing.body) == upload.body)
    ):
        return UNCHANGED
    if existing is not None:
        Document.objects.filter(pk=existing.pk).update(body=upload.body, kind=upload.kind)
        return existing
    return document_add(upload=replace(upload, source=source[:500]), user=None)
