"""Message rendering: markdown to sanitized HTML, and the HTML fragments sent over the socket.

Model and user text are never trusted: markdown-it runs with raw HTML disabled, and its
output still goes through nh3 (an allow-list sanitizer) before it is marked safe.
Fragments are Django templates, so autoescaping applies to everything interpolated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import nh3
from django.template import engines
from django.template.backends.django import Template
from django.utils.html import conditional_escape
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


def render_markdown(text: str) -> SafeString:
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


_SLOT = re.compile("\x00(\\d+)\x00")


def slot(index: int) -> str:
    """A marker to render in place of a value, for ``sketch`` (no template has it)."""
    return f"\x00{index}\x00"


@dataclass(frozen=True)
class Sketch:
    """HTML rendered once with ``slot(i)`` in place of value ``i``, cut at the markers.

    ``fill`` puts values back where the template showed them, escaped as the template
    would: a template render becomes a few string joins.
    """

    texts: list[str]  # the HTML between the markers
    order: list[int]  # which value goes in each gap

    def fill(self, values: Sequence[Any]) -> str:
        out = [self.texts[0]]
        for index, text in zip(self.order, self.texts[1:], strict=True):
            out.append(conditional_escape(values[index]))
            out.append(text)
        return "".join(out)


def sketch(html: str, count: int) -> Sketch | None:
    """``html`` cut at the markers ``slot(0)`` ... ``slot(count - 1)``; None unless each
    came out as is, at least once (a filter or a test on the value would change it)."""
    parts = _SLOT.split(html)
    texts, order = parts[0::2], [int(index) for index in parts[1::2]]
    return Sketch(texts, order) if set(order) == set(range(count)) else None


@cache
def _fragment_sketch(name: str, fields: tuple[str, ...]) -> Sketch:
    """The fragment rendered once with a marker per field."""
    found = sketch(
        render_fragment(name, {field: slot(i) for i, field in enumerate(fields)}), len(fields)
    )
    if found is None:
        raise ValueError(f"fragment {name} must show each of {fields} as is")
    return found


def fragment_renderer(name: str, *fields: str) -> Callable[..., str]:
    """A renderer for a hot fragment whose fields are plain values shown as they are.

    Same output as ``render_fragment`` (values are escaped as the template would), at the
    cost of a few string joins: for frames sent many times a second.
    """

    def render(**values: Any) -> str:
        return _fragment_sketch(name, fields).fill([values[field] for field in fields])

    return render
