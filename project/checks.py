"""Deploy checks for settings that ``manage.py check --deploy`` cannot know about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning


@register(Tags.caches, deploy=True)
def check_shared_services(
    *, app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    """Without Redis the cache and the channel layer live inside one process, which is right
    for a local run and wrong for several server processes."""
    if settings.DEBUG or settings.REDIS_URL:
        return []
    return [
        CheckWarning(
            "REDIS_URL is not set, so the cache, the channel layer and tasks are in-process: "
            "rate limits and reply leases hold only within one server process, and pages "
            "served by another process do not see replies live.",
            hint="Set REDIS_URL (e.g. redis://redis:6379/0) as in the README's "
            '"Running Orion for real".',
            id="project.W001",
        )
    ]
