"""The knowledge base in the admin: add a document by upload or by pasting text, see
its ingestion's progress and any error in words, ingest it again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from agents.knowledge.extract import MAX_BODY_BYTES
from agents.knowledge.ingest import Upload, upload_from_file
from agents.knowledge.types import IngestError
from agents.models import Document
from agents.pipeline.config import staff_config_changed
from agents.tasks import document_ingest_task
from project.tasks import enqueue

PASTED_KINDS = [(k, label) for k, label in Document.Kind.choices if k != Document.Kind.PDF]
PASSAGES_SHOWN = 20


class DocumentForm(forms.ModelForm):
    upload = forms.FileField(
        required=False,
        help_text=f"Plain text, Markdown, HTML or PDF, at most {MAX_BODY_BYTES // 2**20} MB.",
    )
    text = forms.CharField(
        required=False, label="Or paste the text", widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Used when no file is uploaded. On a document already added, either one "
        "replaces its content.",
    )  # fmt: skip
    pasted_kind = forms.ChoiceField(choices=PASTED_KINDS, initial="markdown", label="Pasted as")

    class Meta:
        model = Document
        fields = ["title", "source", "audience"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        title = self.fields["title"]
        title.required = False  # the upload's own title or its file name will do
        title.help_text = "Left empty: the title the file gives itself, else the file's name."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload, text = cleaned.get("upload"), (cleaned.get("text") or "").strip()
        if upload and text:
            raise ValidationError("Upload a file or paste a text, not both.")
        if not (upload or text or self.instance.pk):
            raise ValidationError("Upload a file or paste the text of the document.")
        if upload:
            if upload.size > MAX_BODY_BYTES:
                raise ValidationError(
                    f"The file is {upload.size / 2**20:.1f} MB; at most "
                    f"{MAX_BODY_BYTES // 2**20} MB can be added."
                )
            try:
                cleaned["content"] = upload_from_file(upload.name, upload.read(),
                                                      title=cleaned.get("title") or "")  # fmt: skip
            except IngestError as exc:
                raise ValidationError(str(exc)) from exc
        elif text:
            body = text.encode()
            if len(body) > MAX_BODY_BYTES:
                raise ValidationError(f"The text is over {MAX_BODY_BYTES // 2**20} MB.")
            kind = cleaned.get("pasted_kind") or "text"
            title = cleaned.get("title") or ""
            cleaned["content"] = Upload(title=title, source="pasted", kind=kind, body=body)
        content = cleaned.get("content")
        if not cleaned.get("title"):
            if content is None or content.source == "pasted":
                self.add_error("title", "Give the document a title.")
            else:
                cleaned["title"] = content.title
        return cleaned


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    form = DocumentForm
    list_display = ["title", "kind", "audience", "progress", "chunk_count", "version",
                    "ingested_at", "uploaded_by"]  # fmt: skip
    list_filter = ["status", "kind", "audience"]
    search_fields = ["title", "source"]
    readonly_fields = ["kind", "progress", "error", "version", "chunk_count", "ingested_at",
                       "uploaded_by", "created_at", "passages"]  # fmt: skip
    actions = ["ingest_again"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        added = ["kind", "progress", "error", "version", "chunk_count", "ingested_at",
                 "uploaded_by", "created_at", "passages"] if obj else []  # fmt: skip
        return ["title", "source", "audience", "upload", "text", "pasted_kind", *added]

    @admin.display(description="status")
    def progress(self, document: Document) -> str:
        label = document.get_status_display()
        return f"{label}: {document.stage}" if document.stage else label

    @admin.display(description=f"passages (the first {PASSAGES_SHOWN})")
    def passages(self, document: Document) -> SafeString:
        chunks = document.chunks.order_by("position")[:PASSAGES_SHOWN]
        return format_html_join(
            "", "<p><strong>{}</strong><br>{}</p>",
            ((c.heading_path or "—", c.text[:400]) for c in chunks),
        ) or format_html("{}", "none yet")  # fmt: skip

    def save_model(self, request: HttpRequest, obj: Document, form: Any, change: bool) -> None:
        content: Upload | None = form.cleaned_data.get("content")
        if content is not None:
            obj.source = obj.source or content.source
            obj.kind, obj.body = content.kind, content.body
            obj.status, obj.stage, obj.error = Document.Status.PENDING, "queued", ""
        if not change:
            obj.uploaded_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
        if content is not None:
            enqueue(document_ingest_task, obj.pk)
        elif change and "audience" in form.changed_data:  # who may be answered from it
            staff_config_changed()

    @admin.action(description="Ingest the selected documents again")
    def ingest_again(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            Document.objects.filter(pk=document.pk).update(stage="queued")
            enqueue(document_ingest_task, document.pk)
            self.log_change(request, document, "Queued for ingestion again.")
        self.message_user(request, f"{queryset.count()} document(s) queued.", messages.SUCCESS)
