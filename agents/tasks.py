"""The agents' slow paths as Celery tasks (in-process with the embedded defaults)."""

from __future__ import annotations

from celery import shared_task

from agents.knowledge.ingest import document_ingest
from project.tasks import TASK_OPTIONS


@shared_task(**TASK_OPTIONS)
def document_ingest_task(document_id: int) -> str:
    """Ingest one document (idempotent: its chunks are replaced whole)."""
    return document_ingest(document_id=document_id).status
