"""How a run reads for staff: the providers it tried, the prompt version it used (a link
into the admin). Shared by the runs' pages and the chat's transcripts."""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from agents.models import PromptVersion, Step


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
