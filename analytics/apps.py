from __future__ import annotations

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Ops pages over recorded runs; read-only, imported by no other app."""

    name = "analytics"
