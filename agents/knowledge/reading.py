"""Reading a document from a source link: who may, and which page of its passages.

A reader sees a ready document whose audience they are in (``audience_levels``): the same
rule search follows, so a source link never opens what the answer could not have used.
Passages come a page at a time; a link to a passage opens the page that holds it. A
passage gone since the answer was given (the document was ingested again) is said so,
and the document opens at its start.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator

from agents.models import Chunk, Document

PASSAGES_PER_PAGE = 40


class DocumentHidden(Exception):
    """The document exists and is ready, but not for this reader (``signed_in``: one who
    signs in may see it)."""

    def __init__(self, *, sign_in_helps: bool) -> None:
        super().__init__("not visible to this reader")
        self.sign_in_helps = sign_in_helps


@dataclass(frozen=True)
class DocumentPage:
    document: Document
    page: Page[Chunk]
    passage_id: int | None  # the passage linked to, if it is on this page
    passage_gone: bool  # the passage linked to is no longer in the document


def document_for_reader(
    *, pk: int, audiences: tuple[str, ...], page: int | None = None, passage: int | None = None
) -> DocumentPage:
    """Page ``page`` of a document's passages (the page holding ``passage`` when no page
    is asked for). Raises ``Document.DoesNotExist`` for a document that is missing or not
    ready, ``DocumentHidden`` for one outside ``audiences``."""
    document = Document.objects.get(pk=pk, status=Document.Status.READY)
    if document.audience not in audiences:
        raise DocumentHidden(sign_in_helps=document.audience == Document.Audience.SIGNED_IN
                             and audiences == (Document.Audience.EVERYONE,))  # fmt: skip
    chunks = Chunk.objects.filter(document=document).only(
        "id", "position", "heading_path", "text", "document_id"
    )
    paginator = Paginator(chunks.order_by("position"), PASSAGES_PER_PAGE)
    gone = False
    if page is None and passage is not None:
        position = chunks.filter(pk=passage).values_list("position", flat=True).first()
        gone = position is None
        if position is not None:
            before = chunks.filter(position__lt=position).count()
            page = before // PASSAGES_PER_PAGE + 1
    shown = paginator.get_page(page)
    on_page = passage if passage is not None and any(c.pk == passage for c in shown) else None
    return DocumentPage(document, shown, on_page, gone)
