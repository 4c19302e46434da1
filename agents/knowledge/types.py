"""What the knowledge base's steps hand each other."""

from __future__ import annotations

from dataclasses import dataclass


class IngestError(Exception):
    """Why a document cannot be ingested, in words for staff (shown in the admin)."""


@dataclass(frozen=True, slots=True)
class Block:
    """A run of a document's text under its headings (outermost first)."""

    headings: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk to store: its place in the document and its text."""

    heading_path: str  # the headings joined with " › "
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk search found, best first, with its fused score."""

    chunk_id: int
    document_id: int
    title: str
    heading_path: str
    text: str
    score: float
