from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from agents.pipeline import answered_by_text, error_text
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


@register.filter
def answered_by(code: str) -> str:
    """Under an answer no model wrote: what gave it, in words ("" for the model's own)."""
    return answered_by_text(code)
