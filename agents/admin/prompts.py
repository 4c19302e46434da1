"""Prompts in the admin: the published text, a draft editor with a diff against it, a
live preview, review before publishing, and the history with one-click roll back.

The change page's buttons: **Save draft** (``_save_draft``), **Preview** (``_preview``:
saves the draft, then the page streams both versions' answers to the sample question),
**Publish** (``_publish``, publishers only; approves a version in review) or **Submit for
review** (``_submit``, editors), **Send back** (``_send_back``, with a comment). The
workflow itself is ``agents.prompting``; the extra pages are in ``prompt_views``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from agents.admin import prompt_views
from agents.diffs import text_diff
from agents.models import Prompt, PromptVersion
from agents.placeholders import DESCRIPTIONS, PLACEHOLDERS
from agents.previews import preview_question_clean
from agents.prompting import (
    PromptStateError,
    can_publish,
    prompt_draft_save,
    prompt_draft_submit,
    prompt_history,
    prompt_open_version,
    prompt_published,
    prompt_text_clean,
    prompt_version_publish,
    prompt_version_send_back,
)

BUTTONS = ("_save_draft", "_preview", "_publish", "_submit", "_send_back")


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
        label="Sample question", required=False, max_length=4000,
        help_text="Preview answers this with the draft and with the published version.",
    )  # fmt: skip
    comment = forms.CharField(
        label="Comment to the editor", required=False, max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip

    class Meta:
        model = Prompt
        fields = ["description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        prompt = self.instance
        open_version = prompt_open_version(prompt) if prompt.pk else None
        published = prompt_published(prompt) if prompt.pk else None
        base = open_version or published
        self.fields["text"].initial = base.text if base else ""
        self.fields["note"].initial = open_version.note if open_version else ""
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
        return prompt_text_clean(self.instance.key, text)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "_preview" in self.data:
            try:
                cleaned["question"] = preview_question_clean(cleaned.get("question") or "")
            except ValidationError as exc:
                self.add_error("question", exc)
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

    @admin.display(description="published")
    def published_label(self, prompt: Prompt) -> str:
        version = prompt_published(prompt)
        return f"v{version.number}" if version else "shipped text"

    @admin.display(description="draft")
    def open_label(self, prompt: Prompt) -> str:
        version = prompt_open_version(prompt)
        return f"v{version.number} ({version.get_state_display()})" if version else "—"

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
        published = prompt_published(prompt)
        open_version = prompt_open_version(prompt)
        question = request.GET.get("question", "")[:4000]
        preview = [v for v in (open_version, published) if v is not None] if question else []
        return {
            "published": published,
            "open_version": open_version,
            "can_publish": can_publish(request.user),
            "diff": text_diff(published.text if published else "", open_version.text)
            if open_version else None,
            "history": prompt_history(prompt),
            "preview_question": question,
            "preview_versions": [
                (v, reverse("admin:agents_prompt_preview", args=[prompt.pk, v.pk]))
                for v in preview
            ],
        }  # fmt: skip

    def save_model(self, request: HttpRequest, obj: Prompt, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        action = next((b for b in BUTTONS if b in request.POST), "_save_draft")
        try:
            self._step(request, obj, form.cleaned_data, action)
        except (PromptStateError, PermissionDenied) as exc:
            self.message_user(request, str(exc), messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)

    def _step(
        self, request: HttpRequest, prompt: Prompt, data: dict[str, Any], action: str
    ) -> None:
        user = request.user
        open_version = prompt_open_version(prompt)
        in_review = open_version is not None and open_version.state == PromptVersion.State.REVIEW
        if action == "_send_back":
            if open_version is None:
                raise PromptStateError("There is no version in review to send back.")
            version = prompt_version_send_back(version=open_version, user=user,
                                               comment=data.get("comment") or "")  # fmt: skip
            return self._done(request, prompt, f"Sent {version.label} back: {data.get('comment')}")
        if not in_review:
            open_version, changed = prompt_draft_save(
                prompt=prompt, text=data.get("text") or "", note=data.get("note") or "", user=user
            )
            if changed and open_version is not None:
                self._done(request, prompt, f"Saved the draft {open_version.label}.")
        if action in ("_publish", "_submit") and open_version is None:
            raise PromptStateError("The draft is the published text: there is nothing to publish.")
        if action == "_publish" and open_version is not None:
            version = prompt_version_publish(version=open_version, user=user,
                                             note=data.get("note") or "")  # fmt: skip
            self._done(request, prompt, f"Published {version.label}.")
        elif action == "_submit" and open_version is not None:
            version = prompt_draft_submit(version=open_version, user=user,
                                          note=data.get("note") or "")  # fmt: skip
            self._done(request, prompt, f"Submitted {version.label} for review.")

    def _done(self, request: HttpRequest, prompt: Prompt, message: str) -> None:
        self.log_change(request, prompt, message)
        self.message_user(request, message, messages.SUCCESS)

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
            url += "?" + urlencode({"question": request.POST.get("question", "")}) + "#preview"
        return HttpResponseRedirect(url)
