"""The agents' admin: what staff steer (prompts, providers, rules, guard patterns) and what
they read (runs with their steps, cached answers).

Runs and steps are records: read-only. Prompt versions are never edited in place; a new
text is a new version (the review and preview workflow builds on this).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from agents.models import (
    CachedAnswer,
    GuardPattern,
    Prompt,
    PromptVersion,
    Provider,
    Rule,
    Run,
    Step,
)


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PromptVersionInline(ReadOnlyMixin, admin.TabularInline):
    model = PromptVersion
    fields = readonly_fields = ("number", "published", "note", "author", "created_at", "text")
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["key", "description"]
    search_fields = ["key", "description"]
    inlines = [PromptVersionInline]


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "published", "note", "author", "created_at"]
    list_filter = ["published", "prompt"]
    actions = ["publish"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A version is never changed once saved: replies recorded which text they used.
        if obj is None:
            return ["number", "author", "published"]
        return ["prompt", "number", "text", "note", "author", "created_at", "published"]

    def save_model(self, request: HttpRequest, obj: PromptVersion, form: Any, change: bool) -> None:
        if not change:
            obj.author = request.user  # type: ignore[assignment]
            last = obj.prompt.versions.order_by("-number").first()
            obj.number = last.number + 1 if last else 1
        super().save_model(request, obj, form, change)

    @admin.action(description="Publish the selected version (one per prompt)")
    def publish(self, request: HttpRequest, queryset: QuerySet[PromptVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version.", messages.ERROR)
            return
        version = queryset.get()
        with transaction.atomic():
            PromptVersion.objects.filter(prompt=version.prompt, published=True).update(
                published=False
            )
            version.published = True
            version.save(update_fields=["published"])
        self.message_user(request, f"{version.label} is published.", messages.SUCCESS)


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "model", "base_url", "priority", "enabled", "price_in_per_1k",
                    "price_out_per_1k"]  # fmt: skip
    list_editable = ["priority", "enabled"]


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["name", "pattern", "priority", "enabled"]
    list_editable = ["priority", "enabled"]
    search_fields = ["name", "pattern", "answer"]


@admin.register(GuardPattern)
class GuardPatternAdmin(admin.ModelAdmin):
    list_display = ["name", "pattern", "score", "enabled", "note"]
    list_editable = ["score", "enabled"]
    search_fields = ["name", "pattern", "note"]


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
