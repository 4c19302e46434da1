"""The rows staff switch tools on and off with: one per registered tool."""

from __future__ import annotations

from agents.models import ToolSetting
from agents.tools.registry import TOOLS


def tools_install(**kwargs: object) -> list[str]:
    """A row (enabled) for every registered tool that has none. Connected to
    ``post_migrate`` beside the shipped prompts, and skipped, like them, while the
    database is not migrated this far; staff's choices are never touched."""
    from agents.prompting import agents_migrated

    using = str(kwargs.get("using") or "default")
    if kwargs.get("plan") is not None and not agents_migrated(using):
        return []
    have = set(ToolSetting.objects.using(using).values_list("name", flat=True))
    added = [name for name in TOOLS if name not in have]
    ToolSetting.objects.using(using).bulk_create(
        [ToolSetting(name=name) for name in added], ignore_conflicts=True
    )
    return added
