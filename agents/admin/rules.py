"""Rules and guard patterns in the admin."""

from __future__ import annotations

from django.contrib import admin

from agents.models import GuardPattern, Rule


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
