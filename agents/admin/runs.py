"""Runs, steps and cached answers in the admin: records, read-only."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from agents.admin.base import ReadOnlyMixin
from agents.models import CachedAnswer, PromptVersion, Run, Step


def prompt_version_link(version: PromptVersion | None) -> SafeString:
    """The version's row in its prompt's history."""
    if version is None:
        return format_html("{}", "—")
    url = reverse("admin:agents_prompt_change", args=[version.prompt_id])
    return format_html('<a href="{}#version-{}">{}</a>', url, version.number, version.label)


def fallback_path(steps: Iterable[Step]) -> str:
    """Which providers were tried, in order, and the ladder's tier if it answered:
    ``sim-a unavailable → sim-b complete`` or ``sim-a unavailable → ladder: cache``."""
    path = []
    for step in sorted(steps, key=lambda s: s.position):
        if step.name == "generate":
            path.append(f"{step.detail.get('provider', '?')} {step.outcome}")
        elif step.name == "degrade":
            path.append(f"ladder: {step.outcome}")
    return " → ".join(path) or "—"


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
    readonly_fields = [
        *(f.name for f in Run._meta.fields if f.name != "prompt_version"),
        "prompt_version_shown", "fallback",
    ]  # fmt: skip

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
