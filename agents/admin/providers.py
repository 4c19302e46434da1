"""Providers in the admin."""

from __future__ import annotations

from django.contrib import admin

from agents.models import Provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "model", "base_url", "priority", "enabled", "price_in_per_1k",
                    "price_out_per_1k"]  # fmt: skip
    list_editable = ["priority", "enabled"]
