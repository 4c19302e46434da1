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

from agents.knowledge.citations import CITATION

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


# A tag of sanitized HTML, its attribute values quoted (whatever they hold, ">" and "<"
# included), and the elements whose text a citation is never looked for in.
_TAG = re.compile(r"""<(/?)([a-zA-Z][a-zA-Z0-9]*)(?:[^>"']|"[^"]*"|'[^']*')*>""")
_LEFT_ALONE = frozenset({"a", "code", "pre"})
_NUMBER = re.compile(r"\d+")
Targets = tuple[tuple[int, str, str], ...]  # (number, address, label) of sources with a page


def citations_linked(
    html: SafeString, sources: object, href: Callable[[Mapping[str, Any]], str]
) -> SafeString:
    """``html`` (a reply rendered by ``render_markdown``) with each number of a citation
    (``[1]``, ``[2, 3]``, as ``agents.knowledge.citations`` reads them) that names one of
    its ``sources`` made a link to that passage (``href``), as under the answer. Numbers in
    code, in links, or naming no source with a page stay text."""
    if "[" not in html or not isinstance(sources, list):
        return html
    targets: dict[int, tuple[int, str, str]] = {}
    for source in sources:
        if not isinstance(source, Mapping) or not isinstance(source.get("n"), int):
            continue
        if url := href(source):
            label = source.get("label") or source.get("title") or ""
            n = source["n"]
            targets.setdefault(n, (n, url, label if isinstance(label, str) else ""))
    if not targets:
        return html
    linked = _linked if len(html) <= 2 * RENDERED_KEPT_MAX_CHARS else _linked.__wrapped__
    return linked(str(html), tuple(sorted(targets.values())))


@lru_cache(maxsize=RENDERED_KEPT)
def _linked(html: str, targets: Targets) -> SafeString:
    pages = {n: (url, label) for n, url, label in targets}

    def link(n: int, text: str) -> str:
        url, label = pages[n]
        return format_html(
            '<a class="cite" href="{}" data-cite="{}" title="{}">{}</a>', url, n, label, text
        )

    def cite(match: re.Match[str]) -> str:
        numbers = [int(n) for n in _NUMBER.findall(match.group(1))]
        if len(numbers) == 1:  # the whole "[n]" is the link
            return link(numbers[0], match.group(0)) if numbers[0] in pages else match.group(0)

        def one(number: re.Match[str]) -> str:
            n = int(number.group())
            return link(n, number.group()) if n in pages else number.group()

        return _NUMBER.sub(one, match.group(0))

    out: list[str] = []
    depth = at = 0  # depth: inside how many code, pre and link elements
    for tag in _TAG.finditer(html):
        text = html[at : tag.start()]
        out.append(CITATION.sub(cite, text) if depth == 0 else text)
        out.append(tag.group(0))
        if tag.group(2).lower() in _LEFT_ALONE:
            depth = max(0, depth - 1) if tag.group(1) else depth + 1
        at = tag.end()
    tail = html[at:]
    out.append(CITATION.sub(cite, tail) if depth == 0 else tail)
    return mark_safe("".join(out))  # noqa: S308  (sanitized text; links built escaped)


@cache
def _template(name: str) -> Template:
    return engines["django"].get_template(name)  # type: ignore[return-value]


def render_fragment(name: str, context: dict[str, Any]) -> str:
    """Render ``templates/chat/ws/<name>.html`` (compiled once per process)."""
    return _template(f"chat/ws/{name}.html").render(context)
