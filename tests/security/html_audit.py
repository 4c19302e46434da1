"""HTML read as a browser reads it, to say what in it could run or reach out.

``html.parser`` turns character references into text (in attribute values too), so a
``&#106;avascript:`` that reached an ``href`` is seen here as the ``javascript:`` a
browser would follow. Elements are tracked with their ancestors, so a check can look
only inside a message body, and a tag left open there shows up as swallowing what
follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)
# What message markup may hold: text formatting, lists, tables, code and plain links.
HARMLESS_TAGS = frozenset(
    {"a", "b", "blockquote", "br", "code", "del", "em", "hr", "i", "li", "ol", "p", "pre"}
    | {"s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul"}
    | {"h1", "h2", "h3", "h4", "h5", "h6"}
)
HARMLESS_ATTRIBUTES = frozenset({"href", "title", "rel", "class", "align"})
# Attributes a browser fetches or follows.
URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "xlink:href", "background", "poster", "srcset"}
    | {"data", "cite", "longdesc", "lowsrc", "dynsrc", "ping", "manifest", "codebase"}
    | {"archive", "icon"}
)
RUNNING_SCHEMES = frozenset({"javascript", "vbscript", "livescript", "data"})
# The WHATWG URL parser drops leading and trailing C0 controls and spaces, and every tab
# and newline anywhere, before it reads the scheme.
_URL_EDGES = "".join(chr(c) for c in range(0x21))
_URL_INSIDE = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")


@dataclass(eq=False)
class Element:
    tag: str
    attrs: list[tuple[str, str | None]]
    parent: Element | None
    parts: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        found = [value for key, value in self.attrs if key == name]
        return (found[-1] or "") if found else None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def ancestors(self) -> list[Element]:
        out, node = [], self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    def __repr__(self) -> str:
        attrs = " ".join(f"{k}={v!r}" for k, v in self.attrs)
        return f"<{self.tag} {attrs}>"


class Document(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.comments: list[str] = []
        self._open: list[Element] = []
        self._parts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, attrs, self._open[-1] if self._open else None)
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, attrs, self._open[-1] if self._open else None))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        self._parts.append(data)
        for element in self._open:
            element.parts.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def find(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str, **attrs: str) -> Element:
        found = self.find(tag, **attrs)
        assert len(found) == 1, (tag, attrs, found)
        return found[0]


def url_scheme(value: str) -> str | None:
    """The scheme a browser reads from an attribute's (already unescaped) URL, or None
    for a relative URL."""
    url = _URL_INSIDE.sub("", value.strip(_URL_EDGES)).lower()
    match = _SCHEME.match(url)
    return match.group(1) if match else None


def running_attributes(element: Element) -> list[str]:
    """Event handlers, and URLs that run script or carry a document of their own."""
    found = []
    for name, value in element.attrs:
        if name.startswith("on"):
            found.append(f"{element!r}: event handler {name}")
        elif name in URL_ATTRIBUTES and url_scheme(value or "") in RUNNING_SCHEMES:
            found.append(f"{element!r}: {name} runs {value!r}")
        elif name == "srcdoc":
            found.append(f"{element!r}: srcdoc")
    return found


def markup_problems(elements: list[Element]) -> list[str]:
    """What in message markup is more than text formatting and plain links: any other
    tag, any other attribute (handlers, styles, htmx's), a link that is not http(s),
    mailto or relative, or one that hands the opened page a handle on this one."""
    problems = []
    for e in elements:
        if e.tag not in HARMLESS_TAGS:
            problems.append(f"tag {e!r}")
        for name, _ in e.attrs:
            if name not in HARMLESS_ATTRIBUTES:
                problems.append(f"attribute {name} on {e!r}")
        problems += running_attributes(e)
        if e.tag == "a":
            if url_scheme(e.get("href") or "") not in (None, "http", "https", "mailto"):
                problems.append(f"link {e!r}")
            rel = (e.get("rel") or "").split()
            if "noopener" not in rel or "noreferrer" not in rel:
                problems.append(f"link without noopener noreferrer {e!r}")
    return problems


def page_problems(document: Document) -> list[str]:
    """What in a whole page could run that is not the page's own static scripts."""
    problems = []
    for e in document.elements:
        problems += running_attributes(e)
        if e.tag == "script" and (not (e.get("src") or "").startswith("/static/") or e.text):
            problems.append(f"script {e!r} {e.text[:80]!r}")
        if e.tag in {"iframe", "frame", "object", "embed", "svg", "math", "style", "base", "img"}:
            problems.append(f"tag {e!r}")
        if e.tag == "meta" and e.get("http-equiv") is not None:
            problems.append(f"tag {e!r}")
        if e.get("style") is not None:
            problems.append(f"inline style on {e!r}")
    return problems


def message_bodies(document: Document) -> list[Element]:
    return [e for e in document.elements if e.get("data-part") == "body"]


def inside(document: Document, container: Element) -> list[Element]:
    return [e for e in document.elements if container in e.ancestors()]
