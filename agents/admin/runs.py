"""Runs, steps and cached answers in the admin: records, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from agents.admin.base import ReadOnlyMixin
from agents.models import CachedAnswer, Run, Step
from agents.pipeline import fallback_path, prompt_version_link


class StepInline(ReadOnlyMixin, admin.TabularInline):
    model = Step
    fields = readonly_fields = ("position", "name", "outcome", "start_ms", "duration_ms",
                                "tokens_in", "tokens_out", "cost", "detail")  # fmt: skip
    extra = 0
    can_delete = False


@admin.register(Run)
class RunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["__str__", "kind", "answered_by", "outcome", "provider", "model",
                    "ttft_ms", "duration_ms", "cost", "started_at"]  # fmt: skip
    list_filter = ["kind", "answered_by", "outcome", "provider", "cache_tier"]
    date_hierarchy = "started_at"
    inlines = [StepInline]
    list_select_related = ["prompt_version__prompt"]
    exclude = ["prompt_version", "message"]  # shown as links below
    readonly_fields = [
        *(f.name for f in Run._meta.fields if f.name not in ("prompt_version", "message")),
        "message_shown", "prompt_version_shown", "fallback",
    ]  # fmt: skip

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # what replies cost stays countable

    @admin.display(description="message")
    def message_shown(self, run: Run) -> SafeString:
        """The reply's transcript (a preview or a job has none)."""
        if run.message is None:
            return format_html("{}", "—")
        url = reverse("admin:chat_conversation_change", args=[run.message.conversation_id])
        return format_html('<a href="{}">{} in its conversation</a>', url, run.message)

    @admin.display(description="prompt version")
    def prompt_version_shown(self, run: Run) -> SafeString:
        return prompt_version_link(run.prompt_version)

    @admin.display(description="providers tried, and the fallback tier")
    def fallback(self, run: Run) -> str:
        return fallback_path(run.steps.all())


@admin.register(CachedAnswer)
class CachedAnswerAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Staff may look and delete (to stop an answer being served), not edit."""

    list_display = ["question", "prompt_version", "model", "created_at", "expires_at"]
    search_fields = ["question", "answer"]
    readonly_fields = [f.name for f in CachedAnswer._meta.fields]
