"""Runs, steps and cached answers in the admin: records, read-only."""

from __future__ import annotations

from django.contrib import admin

from agents.admin.base import ReadOnlyMixin
from agents.models import CachedAnswer, Run, Step


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
    readonly_fields = [f.name for f in Run._meta.fields]


@admin.register(CachedAnswer)
class CachedAnswerAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Staff may look and delete (to stop an answer being served), not edit."""

    list_display = ["question", "prompt_version", "model", "created_at", "expires_at"]
    search_fields = ["question", "answer"]
    readonly_fields = [f.name for f in CachedAnswer._meta.fields]
