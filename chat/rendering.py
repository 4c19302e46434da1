"""Message rendering: markdown to sanitized HTML, and the HTML fragments sent over the socket.

Model and user text are never trusted: markdown-it runs with raw HTML disabled, and its
output still goes through nh3 (an allow-list sanitizer) before it is marked safe.
Fragments are Django templates, so autoescaping applies to everything interpolated.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

import nh3
from django.template import engines
from django.template.backends.django import Template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead",
    "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}}


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


# Rendered texts kept for when the same text is shown again (a cached answer to a repeated
# question, every message of a page that reconnects): bench/README.md, "Decisions".
RENDERED_KEPT = 512
RENDERED_KEPT_MAX_CHARS = 16_384


def render_markdown(text: str) -> SafeString:
    if len(text) <= RENDERED_KEPT_MAX_CHARS:
        return _rendered(text)
    return _render(text)


@lru_cache(maxsize=RENDERED_KEPT)
def _rendered(text: str) -> SafeString:
    return _render(text)


def _render(text: str) -> SafeString:
    html = _markdown().render(text)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308  (sanitized by nh3 just above)


@cache
def _template(name: str) -> Template:
    return engines["django"].get_template(name)  # type: ignore[return-value]


def render_fragment(name: str, context: dict[str, Any]) -> str:
    """Render ``templates/chat/ws/<name>.html`` (compiled once per process)."""
    return _template(f"chat/ws/{name}.html").render(context)
