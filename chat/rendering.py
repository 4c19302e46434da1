"""Message rendering: markdown to sanitized HTML, and the HTML fragments sent over the socket.

Model and user text are never trusted: markdown-it runs with raw HTML disabled, and its
output still goes through nh3 (an allow-list sanitizer) before it is marked safe.
Fragments are Django templates, so autoescaping applies to everything interpolated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from typing import Any

import nh3
from django.template import engines
from django.template.backends.django import Template
from django.utils.html import format_html
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


# Sanitized HTML in pieces: code, preformatted text and links (left as they are), other
# tags, and the text between them, where a citation is a bracketed number.
_PIECES = re.compile(r"(<pre\b.*?</pre>|<code\b.*?</code>|<a\b.*?</a>|<[^>]*>)", re.DOTALL)
_CITATION = re.compile(r"\[(\d{1,3})\]")


def citations_linked(
    html: SafeString, sources: list[dict[str, Any]], href: Callable[[Mapping[str, Any]], str]
) -> SafeString:
    """``html`` (a reply rendered by ``render_markdown``) with each ``[n]`` that names one
    of its ``sources`` made a link to that passage (``href``), as under the answer. Numbers
    in code, in links, or naming no source stay text."""
    targets = {}
    for source in sources:
        n, url = source.get("n"), href(source)
        if isinstance(n, int) and url:
            targets[str(n)] = (url, str(source.get("label") or source.get("title") or ""))
    if not targets:
        return html

    def link(match: re.Match[str]) -> str:
        found = targets.get(match.group(1))
        if found is None:
            return match.group(0)
        url, label = found
        return format_html(
            '<a class="cite" href="{}" data-cite="{}" title="{}">[{}]</a>',
            url, match.group(1), label, match.group(1),
        )  # fmt: skip

    pieces = _PIECES.split(html)
    for index in range(0, len(pieces), 2):  # (the text between tags: even places)
        pieces[index] = _CITATION.sub(link, pieces[index])
    return mark_safe("".join(pieces))  # noqa: S308  (sanitized text; links built escaped)


@cache
def _template(name: str) -> Template:
    return engines["django"].get_template(name)  # type: ignore[return-value]


def render_fragment(name: str, context: dict[str, Any]) -> str:
    """Render ``templates/chat/ws/<name>.html`` (compiled once per process)."""
    return _template(f"chat/ws/{name}.html").render(context)
