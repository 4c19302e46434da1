"""Prompts and their versions in the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from agents.admin.base import ReadOnlyMixin
from agents.models import Prompt, PromptVersion


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
