"""Prompts in the admin: the published text, a draft editor with a diff against it, a
live preview, review before publishing, and the history with one-click roll back.

The change page's buttons: **Save draft** (``_save_draft``), **Preview** (``_preview``:
saves the draft, then the page streams both versions' answers to the sample question),
**Publish** (``_publish``, publishers only; approves a version in review) or **Submit for
review** (``_submit``, editors), **Send back** (``_send_back``, with a comment). The
workflow itself is ``agents.prompting.prompt_change``; the extra pages are in
``prompt_views``.
"""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from agents.admin import prompt_views
from agents.diffs import text_diff
from agents.models import Prompt, PromptVersion
from agents.pipeline.config import shipped_prompts
from agents.placeholders import DESCRIPTIONS, PLACEHOLDERS
from agents.previews import MAX_QUESTION_CHARS, preview_question_clean
from agents.prompting import (
    PUBLISHING,
    PromptStateError,
    prompt_base_of,
    prompt_change,
    prompt_history,
    prompt_open_version,
    prompt_publish_allowed,
    prompt_published,
    prompt_text_clean,
)

BUTTONS = {"_save_draft": "save", "_preview": "preview", "_publish": "publish",
           "_submit": "submit", "_send_back": "send_back"}  # fmt: skip
PREVIEW_SESSION_KEY = "prompt-preview-{}"  # a preview's question, shown once


class PromptForm(forms.ModelForm):
    text = forms.CharField(
        label="Draft text", required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 14, "class": "prompt-text"}),
    )  # fmt: skip
    note = forms.CharField(
        label="Note", required=False, max_length=200,
        help_text="What this change is for, in a few words (shown in the history).",
    )  # fmt: skip
    question = forms.CharField(
        label="Sample question", required=False, max_length=MAX_QUESTION_CHARS,
        help_text="Preview answers this with the draft and with the published version.",
    )  # fmt: skip
    comment = forms.CharField(
        label="Comment to the editor", required=False, max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip
    base = forms.CharField(required=False, widget=forms.HiddenInput)  # what the page showed

    class Meta:
        model = Prompt
        fields = ["description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        prompt = self.instance
        open_version = prompt_open_version(prompt=prompt)
        published = prompt_published(prompt=prompt)
        shown = open_version or published
        shipped = shipped_prompts().get(prompt.key)
        self.fields["text"].initial = shown.text if shown else shipped.text if shipped else ""
        self.fields["note"].initial = open_version.note if open_version else ""
        self.base_now = prompt_base_of(open_version, published)  # what the page shows now
        self.fields["base"].initial = self.base_now
        if open_version is not None and open_version.state == PromptVersion.State.REVIEW:
            self.fields["text"].disabled = self.fields["note"].disabled = True
            self.fields["text"].help_text = "In review: it can change once it is sent back."
        spec = PLACEHOLDERS.get(prompt.key)
        names = spec.names() if spec else ()
        self.fields["text"].help_text = (self.fields["text"].help_text + " " + (
            "Placeholders: " + "; ".join(f"{{{n}}} is {DESCRIPTIONS.get(n, n)}" for n in names)
            if names else "This prompt takes no placeholders."
        )).strip()  # fmt: skip

    def clean_text(self) -> str:
        text: str = self.cleaned_data.get("text") or ""
        if self.fields["text"].disabled:
            return text
        return prompt_text_clean(key=self.instance.key, text=text)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "_preview" in self.data:
            try:
                cleaned["question"] = preview_question_clean(cleaned.get("question") or "")
            except ValidationError as exc:
                self.add_error("question", exc)
        if self.data.get("base") != self.base_now:
            # Said here, not after saving, so the text typed stays in the form.
            raise ValidationError(
                "Someone changed this prompt since you opened the page. Copy your text if "
                "you want to keep it, then reload the page to see their version."
            )
        return cleaned


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    form = PromptForm
    list_display = ["key", "description", "published_label", "open_label"]
    search_fields = ["key", "description"]
    readonly_fields = ["key"]
    fields = ["key", "description"]
    change_form_template = "admin/agents/prompt/change_form.html"

    class Media:
        css = {"all": ["agents/prompt-admin.css"]}
        js = ["agents/prompt-preview.js"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # prompts are the ones the code uses; staff change their texts

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Prompt]:
        live = PromptVersion.objects.exclude(state=PromptVersion.State.RETIRED)
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("versions", queryset=live, to_attr="live_versions"))
        )

    @admin.display(description="published")
    def published_label(self, prompt: Prompt) -> str:
        found = [v for v in getattr(prompt, "live_versions", []) if v.published]
        return f"v{found[0].number}" if found else "shipped text"

    @admin.display(description="draft")
    def open_label(self, prompt: Prompt) -> str:
        found = [v for v in getattr(prompt, "live_versions", []) if not v.published]
        return f"v{found[0].number} ({found[0].get_state_display()})" if found else "—"

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:prompt_id>/preview/<int:version_id>/",
                 wrap(prompt_views.preview_stream_view(self)), name="agents_prompt_preview"),
            path("<int:prompt_id>/rollback/", wrap(prompt_views.rollback_view(self)),
                 name="agents_prompt_rollback"),
            path("<int:prompt_id>/diff/", wrap(prompt_views.diff_view(self)),
                 name="agents_prompt_diff"),
            *super().get_urls(),
        ]  # fmt: skip

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        if obj is not None:
            context.update(self._workflow_context(request, obj))
            if question := context["preview_question"]:
                context["adminform"].form.fields["question"].initial = question
        context.update(show_save=False, show_save_and_continue=False,
                       show_save_and_add_another=False, show_delete=False)  # fmt: skip
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _workflow_context(self, request: HttpRequest, prompt: Prompt) -> dict[str, Any]:
        published = prompt_published(prompt=prompt)
        open_version = prompt_open_version(prompt=prompt)
        shipped = shipped_prompts().get(prompt.key)
        before = published.text if published else shipped.text if shipped else ""
        # A preview runs once, for the press of its button: a reload or a link does not
        # spend model calls again.
        question = request.session.pop(PREVIEW_SESSION_KEY.format(request.GET.get("preview")), "")
        preview = [v for v in (open_version, published) if v is not None] if question else []
        return {
            "published": published,
            "published_event": published.events.filter(action__in=PUBLISHING).last()
            if published else None,
            "open_version": open_version,
            "last_event": open_version.events.select_related("actor").last()
            if open_version else None,
            "can_publish": prompt_publish_allowed(user=request.user),
            "diff": text_diff(before, open_version.text) if open_version else None,
            "history": prompt_history(prompt=prompt),
            "preview_question": question,
            "preview_versions": [
                (v, reverse("admin:agents_prompt_preview", args=[prompt.pk, v.pk]))
                for v in preview
            ],
        }  # fmt: skip

    def save_model(self, request: HttpRequest, obj: Prompt, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        data = form.cleaned_data
        step = next((s for b, s in BUTTONS.items() if b in request.POST), "save")
        try:
            done = prompt_change(prompt=obj, step=step, text=data.get("text") or "",
                                 note=data.get("note") or "", comment=data.get("comment") or "",
                                 base=data.get("base") or "", user=request.user)  # fmt: skip
        except (PromptStateError, PermissionDenied) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        for message in done:
            self.log_change(request, obj, message)
            self.message_user(request, message, messages.SUCCESS)
        if not done and step == "save" and "description" not in form.changed_data:
            self.message_user(request, "Nothing to save: the text is as it was.", messages.INFO)

    def construct_change_message(self, request: HttpRequest, form: Any, formsets: Any,
                                 add: bool = False) -> list[dict[str, Any]]:  # fmt: skip
        # The workflow's own entries say what happened; only a changed description adds one.
        return super().construct_change_message(request, form, formsets, add) if (
            "description" in form.changed_data) else []  # fmt: skip

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if not message:
            return None  # nothing but the workflow's steps changed: they are logged apart
        return super().log_change(request, obj, message)

    def response_change(self, request: HttpRequest, obj: Prompt) -> HttpResponse:
        url = reverse("admin:agents_prompt_change", args=[obj.pk])
        if "_preview" in request.POST:
            token = secrets.token_urlsafe(8)
            request.session[PREVIEW_SESSION_KEY.format(token)] = request.POST.get("question", "")
            url += f"?preview={token}#preview"
        return HttpResponseRedirect(url)
