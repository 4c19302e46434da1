from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from agents.pipeline import error_text
from chat.rendering import render_markdown

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Markdown to sanitized HTML (safe to print as is)."""
    return render_markdown(text or "")


@register.filter
def reply_error(code: str) -> str:
    """What went wrong with a reply, in words a person understands."""
    return error_text(code)
