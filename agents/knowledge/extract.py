"""A document's text under its headings, from plain text, Markdown, HTML or PDF.

``document_blocks(kind, body)`` returns the text as blocks (paragraphs, list items, table
rows, code) under their headings, outermost first, and raises ``IngestError`` in words for
staff for anything refused. The limits are module constants: ``MAX_BODY_BYTES`` for the
upload, ``MAX_TEXT_CHARS`` for the text it yields (a PDF is stopped page by page once past
it, so a stream that inflates hugely goes no further; pypdf's own decompression limits
hold too) and ``MAX_PDF_PAGES``. The output is plain text: markup, scripts and styles
never survive, and attributes (event handlers, ``javascript:`` links) are never read.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING

from bs4 import BeautifulSoup, NavigableString, Tag, UnicodeDammit
from bs4.element import PageElement, PreformattedString
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from agents.knowledge.types import Block, IngestError

if TYPE_CHECKING:
    from pypdf import PdfReader

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_TEXT_CHARS = 2_000_000
MAX_PDF_PAGES = 500

KINDS_BY_EXTENSION = {
    "txt": "text", "text": "text", "md": "markdown", "markdown": "markdown",
    "html": "html", "htm": "html", "pdf": "pdf",
}  # fmt: skip
KINDS_BY_CONTENT_TYPE = {
    "text/plain": "text", "text/markdown": "markdown", "text/x-markdown": "markdown",
    "text/html": "html", "application/pdf": "pdf",
}  # fmt: skip

# Never text: their contents are code, styling, embedded documents or metadata.
HTML_DROPPED = {
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math",
    "canvas", "head", "meta", "link", "title", "base",
}  # fmt: skip
HTML_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Elements that end a block of text where they open and where they close.
HTML_BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr",
    "html", "legend", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
    "tbody", "tfoot", "thead", "tr", "ul",
}  # fmt: skip
HTML_CELLS = {"td", "th"}
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")

Part = tuple[int, str]  # (heading level 1-6, or 0 for body text; the text)


def kind_for_name(filename: str, content_type: str = "") -> str | None:
    """The document kind for an upload's extension; its content type only when it has none.

    None for anything else (zip archives, executables, office files): the caller refuses it.
    """
    name = re.split(r"[\\/]", filename)[-1]
    if "." in name:
        return KINDS_BY_EXTENSION.get(name.rsplit(".", 1)[1].strip().lower())
    return KINDS_BY_CONTENT_TYPE.get(content_type.split(";")[0].strip().lower())


def document_blocks(kind: str, body: bytes) -> list[Block]:
    """The document's text as blocks under their headings; ``IngestError`` if refused."""
    if not body.strip():
        raise IngestError("The document is empty.")
    if len(body) > MAX_BODY_BYTES:
        raise IngestError(
            f"The file is {len(body):,} bytes; the limit is {MAX_BODY_BYTES:,} bytes."
        )
    if body.startswith(ZIP_MAGIC):
        raise IngestError(
            "The file is a zip archive (as .docx and .xlsx files are); zip files are never "
            "accepted. Upload plain text, Markdown, HTML or PDF."
        )
    if kind == "pdf":
        blocks = _pdf_blocks(body)
    elif kind == "text":
        blocks = _blocks((0, p) for p in re.split(r"\n\s*\n", _utf8(body)))
    elif kind == "markdown":
        blocks = _blocks(_markdown_parts(_utf8(body)))
    elif kind == "html":
        blocks = _blocks(_html_parts(_html_decoded(body)))
        if not blocks:
            raise IngestError("The HTML has no text once scripts, styles and markup are removed.")
    else:
        raise IngestError(f"Unknown document kind {kind!r}: expected text, markdown, html or pdf.")
    if not blocks:
        raise IngestError("The document has no text.")
    if sum(len(b.text) for b in blocks) > MAX_TEXT_CHARS:
        raise IngestError(_too_much_text())
    return blocks


TITLE_READ_BYTES = 64 * 1024  # how much of a document its title is looked for in
_FRONT_MATTER = re.compile(r"\A---\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_ATX_HEADING = re.compile(r"#{1,6}[ \t]+\S")


def document_title(kind: str, body: bytes) -> str:
    """The title a document gives itself, "" when it gives none: a Markdown document that
    opens with a heading (after any front matter), an HTML page's ``<title>`` or else its
    first ``<h1>``. Read from its first ``TITLE_READ_BYTES`` only, and never raises (the
    document's ingestion says what is wrong with it)."""
    try:
        text = body[:TITLE_READ_BYTES].decode("utf-8-sig", errors="ignore")
        if kind == "markdown":
            text = _FRONT_MATTER.sub("", text.replace("\r\n", "\n"), count=1).lstrip("\n")
            line = text.split("\n", 1)[0].strip()
            if not _ATX_HEADING.match(line):
                return ""
            inline = next((t for t in _markdown().parse(line) if t.type == "inline"), None)
            title = _inline_text(inline.children or []) if inline is not None else ""
        elif kind == "html":
            soup = BeautifulSoup(text, "html.parser")
            found = soup.title if soup.title and soup.title.get_text(strip=True) else soup.h1
            title = found.get_text(" ") if found is not None else ""
        else:
            return ""
    except Exception:  # noqa: BLE001  (a title is a nicety: the file's name will do)
        return ""
    return " ".join(title.split())


def _blocks(parts: Iterable[Part]) -> list[Block]:
    """Blocks from headings and texts in document order; a heading ends deeper ones."""
    headings: list[Part] = []
    blocks: list[Block] = []
    for level, raw in parts:
        text = raw.strip()
        if not text:
            continue
        if level:
            headings = [(n, h) for n, h in headings if n < level]
            headings.append((level, " ".join(text.split())))
        else:
            blocks.append(Block(tuple(h for _, h in headings), text))
    return blocks


def _too_much_text() -> str:
    return f"The document's text is over the limit of {MAX_TEXT_CHARS:,} characters."


def _utf8(body: bytes) -> str:
    if b"\x00" in body:
        raise IngestError("The file holds NUL bytes, so it is a binary file, not text.")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise IngestError(
            f"The file is not UTF-8 text (byte {error.start} cannot be decoded); "
            "save it as UTF-8 and upload it again."
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _html_decoded(body: bytes) -> str:
    """UTF-8, or the encoding the page declares (saved web pages are often Windows-1252)."""
    try:
        return _utf8(body)
    except IngestError:
        dammit = UnicodeDammit(body, is_html=True)
        declared = dammit.declared_html_encoding
        if b"\x00" in body or not declared or dammit.original_encoding != declared:
            raise
        return dammit.unicode_markup or ""


# Markdown


@cache
def _markdown() -> MarkdownIt:
    # Raw HTML is parsed (not shown as source) so that its text goes through _html_parts.
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _markdown_parts(text: str) -> Iterator[Part]:
    tokens = _markdown().parse(text)
    level = 0  # inside a heading: its level
    row: list[str] | None = None  # inside a table row: its cells
    for token in tokens:
        if token.type == "heading_open":
            level = int(token.tag[1])
        elif token.type == "heading_close":
            level = 0
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            yield 0, " | ".join(row)
            row = None
        elif token.type == "inline" and row is not None:
            row.append(_inline_text(token.children or []))
        elif token.type == "inline":
            yield level, _inline_text(token.children or [])
        elif token.type in ("fence", "code_block"):
            yield 0, token.content
        elif token.type == "html_block":
            yield 0, _html_text(token.content)


def _inline_text(children: Sequence[Token]) -> str:
    if any(c.type == "html_inline" for c in children):
        # Inline tags: render the run and keep its text, so <script>…</script> goes whole.
        html = RendererHTML().renderInline(children, _markdown().options, {})
        return _html_text(html)
    out: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif child.type == "image":
            out.append(_inline_text(child.children or []))
    return "".join(out)


# HTML


def _html_text(markup: str) -> str:
    return " ".join(text for _, text in _html_parts(markup) if text)


def _html_parts(markup: str) -> Iterator[Part]:
    """Headings and blocks of text in document order, walked without recursion."""
    texts: list[str] = []
    heading = 0  # inside a heading: its level (blocks within it do not cut its text)
    # A number on the stack marks where an element ends: its heading level, or 0.
    stack: list[PageElement | int] = [BeautifulSoup(markup, "html.parser")]
    while stack:
        node = stack.pop()
        if isinstance(node, int):
            yield node, _collapsed(texts)
            heading = 0 if node else heading
            continue
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, doctypes, CDATA
                texts.append(str(node))
            continue
        if not isinstance(node, Tag) or node.name in HTML_DROPPED:
            continue
        if node.name in HTML_HEADINGS and not heading:
            yield 0, _collapsed(texts)
            heading = HTML_HEADINGS[node.name]
            stack.append(heading)
        elif node.name in HTML_BLOCKS and not heading:
            yield 0, _collapsed(texts)
            stack.append(0)
        elif node.name in HTML_BLOCKS:
            texts.append(" ")  # within a heading: its text stays whole
        elif node.name in HTML_CELLS and node.find_previous_sibling(HTML_CELLS):
            texts.append(" | ")
        elif node.name == "br":
            texts.append("\n")
        stack.extend(reversed(node.contents))
    yield 0, _collapsed(texts)


def _collapsed(texts: list[str]) -> str:
    """The text gathered so far, whitespace collapsed; the list is emptied."""
    text = " ".join("".join(texts).split())
    texts.clear()
    return text


# PDF


def _pdf_blocks(body: bytes) -> list[Block]:
    # Imported here: pypdf adds ~48 MB to a process, and a server process imports this
    # module (through the admin) without ever reading a PDF; ingestion pays it once.
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    if b"%PDF-" not in body[:1024]:
        raise IngestError("The file is not a PDF: it has no %PDF- header.")
    try:
        return _blocks(_pdf_parts(PdfReader(io.BytesIO(body))))
    except IngestError:
        raise
    except LimitReachedError:
        raise IngestError(
            "The PDF could not be read: a part of it is too large once decompressed."
        ) from None
    except Exception as error:  # pypdf raises many kinds of error on a malformed file
        why = str(error).rstrip(".") or type(error).__name__
        raise IngestError(f"The file could not be read as a PDF: {why}.") from None


def _pdf_parts(reader: PdfReader) -> Iterator[Part]:
    """Each page's paragraphs under "Page N"; refused once the text grows past the limit."""
    from pypdf import PasswordType

    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise IngestError("The PDF is encrypted with a password; upload a copy without encryption.")
    pages = len(reader.pages)
    if pages > MAX_PDF_PAGES:
        raise IngestError(f"The PDF has {pages:,} pages; the limit is {MAX_PDF_PAGES:,}.")
    total = 0
    for number, page in enumerate(reader.pages, 1):
        text = page.extract_text()
        total += len(text.strip())
        if total > MAX_TEXT_CHARS:
            raise IngestError(_too_much_text())
        yield 1, f"Page {number}"
        yield from ((0, p) for p in re.split(r"\n\s*\n", text))
    if not total:
        raise IngestError(
            "The PDF has no text that can be extracted: its pages may be scanned images. "
            "Run it through OCR (text recognition) and upload the result."
        )
