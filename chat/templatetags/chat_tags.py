from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from agents.pipeline import answered_by_text, error_text, tools_used_text
from chat.rendering import citations_linked, render_markdown

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Markdown to sanitized HTML (safe to print as is)."""
    return render_markdown(text or "")


@register.filter
def reply_error(code: str) -> str:
    """What went wrong with a reply, in words a person understands."""
    return error_text(code)


@register.filter
def answered_by(code: str) -> str:
    """Under an answer no model wrote: what gave it, in words ("" for the model's own)."""
    return answered_by_text(code)


@register.filter
def tools_used(names: list[str]) -> str:
    """A reply's tools in words: "Used the calculator and the date"."""
    return tools_used_text(names)


@register.filter
def cite_links(html: SafeString, sources: list[dict[str, Any]] | None) -> SafeString:
    """A rendered reply whose ``[n]`` citations link to their sources' passages."""
    return citations_linked(html, sources, source_href) if sources else html


@register.filter
def source_href(source: Mapping[str, Any]) -> str:
    """The link to a cited passage in its document ("" for a source that names none)."""
    if not isinstance(source, Mapping):
        return ""
    document, chunk = source.get("document_id"), source.get("chunk_id")
    if not isinstance(document, int) or not isinstance(chunk, int):
        return ""
    url = reverse("knowledge:document", args=[document])
    return f"{url}?{urlencode({'passage': chunk})}#passage-{chunk}"
