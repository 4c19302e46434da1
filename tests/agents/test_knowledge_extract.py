"""Extracting a document's text under its headings, and refusing what Orion does not read."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pypdf
import pytest

from agents.knowledge import extract
from agents.knowledge.extract import document_blocks, kind_for_name
from agents.knowledge.types import Block, IngestError

FILES = Path(__file__).parent / "knowledge_files"


def pdf_with_text(*pages: str, compress: bool = False) -> bytes:
    """A minimal PDF written by hand, one page per text (lines split on newlines), in the
    standard Helvetica font: pypdf reads text but does not write it."""
    count = len(pages)
    kids = b" ".join(b"%d 0 R" % (4 + 2 * n) for n in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for n, text in enumerate(pages):
        lines = b"".join(b"(%s) Tj 0 -16 Td " % _pdf_string(line) for line in text.split("\n"))
        stream = b"BT /F1 12 Tf 72 720 Td " + lines + b"ET"
        extra = b""
        if compress:
            stream, extra = zlib.compress(stream, 9), b" /Filter /FlateDecode"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * n)
        )
        objects.append(b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(stream), extra, stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _pdf_string(line: str) -> bytes:
    raw = line.encode("latin-1")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def blank_pdf(pages: int) -> bytes:
    writer = pypdf.PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted(pdf: bytes, *, user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(pdf))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def refusal(kind: str, body: bytes) -> str:
    with pytest.raises(IngestError) as caught:
        document_blocks(kind, body)
    return str(caught.value)


def all_text(blocks: list[Block]) -> str:
    return "\n".join(" ".join((*b.headings, b.text)) for b in blocks)


# Plain text


def test_plain_text_is_its_paragraphs_without_headings() -> None:
    body = "\ufeffFirst paragraph,\r\nstill the first.\r\n\r\n\r\nSecond one.\n   \nThird.".encode()
    assert document_blocks("text", body) == [
        Block((), "First paragraph,\nstill the first."),
        Block((), "Second one."),
        Block((), "Third."),
    ]


def test_text_that_is_not_utf8_is_refused() -> None:
    message = refusal("text", "Café crème".encode("latin-1"))
    assert "not UTF-8 text" in message and "save it as UTF-8" in message


def test_a_text_file_with_nul_bytes_is_refused_as_binary() -> None:
    assert "binary file" in refusal("text", b"MZ\x90\x00\x03\x00 looks like a program")


# Markdown


def test_markdown_blocks_are_under_their_headings_outermost_first() -> None:
    blocks = document_blocks("markdown", (FILES / "guide.md").read_bytes())
    assert blocks == [
        Block(
            ("Orion guide",), "Orion is a self-hosted assistant. It answers from your documents."
        ),
        Block(
            ("Orion guide", "Chatting"),
            "Type a question and press Enter.\nA second line of the same paragraph.",
        ),
        Block(("Orion guide", "Chatting"), "Stop an answer with the stop button."),
        Block(("Orion guide", "Chatting"), "Start again with Retry."),
        Block(("Orion guide", "Chatting"), "make run"),
        Block(("Orion guide", "Chatting"), "Key | Does"),
        Block(("Orion guide", "Chatting"), "Enter | sends"),
        Block(("Orion guide", "Chatting", "Keyboard"), "Escape closes the sidebar."),
        Block(("Orion guide", "Admin"), "Staff add documents here."),
    ]


def test_a_heading_ends_deeper_headings_even_when_levels_are_skipped() -> None:
    body = b"### Deep first\n\na\n\n# Top\n\nb\n\n#### Four\n\nc\n\n## Two\n\nd\n"
    assert [b.headings for b in document_blocks("markdown", body)] == [
        ("Deep first",),
        ("Top",),
        ("Top", "Four"),
        ("Top", "Two"),
    ]


def test_raw_html_in_markdown_keeps_its_text_and_loses_its_scripts() -> None:
    body = (
        b"# Notes <script>alert(1)</script>\n\n"
        b'Before <b onclick="alert(2)">bold</b> <script>alert(3)</script>after.\n\n'
        b"<div>\n<script>\nalert(4)\n</script>\nBlock text\n</div>\n"
    )
    blocks = document_blocks("markdown", body)
    assert blocks == [Block(("Notes",), "Before bold after."), Block(("Notes",), "Block text")]


# HTML


def test_html_blocks_are_under_their_headings_and_head_style_comments_are_dropped() -> None:
    blocks = document_blocks("html", (FILES / "page.html").read_bytes())
    assert blocks == [
        Block((), "Home"),
        Block(
            ("Orion guide",), "Orion is a self-hosted assistant & it answers from your documents."
        ),
        Block(("Orion guide", "Chatting"), "Type a question and press Enter."),
        Block(("Orion guide", "Chatting"), "Stop an answer."),
        Block(("Orion guide", "Chatting"), "Start again."),
        Block(("Orion guide", "Chatting", "Keyboard"), "Key | Does"),
        Block(("Orion guide", "Chatting", "Keyboard"), "Escape | closes the sidebar"),
        Block(("Orion guide", "Admin"), "Staff add documents here."),
        Block(("Orion guide", "Admin"), "make run"),
    ]


def test_hostile_html_yields_plain_text_without_markup_or_script() -> None:
    blocks = document_blocks("html", (FILES / "hostile.html").read_bytes())
    text = all_text(blocks)
    assert [b.text for b in blocks] == [
        "Safe words.",
        "After the image.",
        "Click here to continue.",
        "Styled but plain.",
    ]
    assert {b.headings for b in blocks} == {("Welcome",)}
    for hostile in ("<", ">", "alert", "javascript", "steal", "onerror", "fallback", "svg"):
        assert hostile not in text


def test_html_nested_deeply_is_read_without_recursion() -> None:
    body = b"<div>" * 5000 + b"<p>Deep inside.</p>" + b"</div>" * 5000
    assert document_blocks("html", body) == [Block((), "Deep inside.")]


def test_html_without_text_is_refused() -> None:
    body = b"<html><head><title>Only a title</title></head><body><script>x()</script></body>"
    assert "HTML has no text" in refusal("html", body)


def test_html_in_the_encoding_it_declares_is_read() -> None:
    body = '<meta charset="windows-1252"><p>Café crème</p>'.encode("cp1252")
    assert document_blocks("html", body) == [Block((), "Café crème")]


def test_html_in_an_undeclared_encoding_other_than_utf8_is_refused() -> None:
    assert "not UTF-8 text" in refusal("html", "<p>Café crème</p>".encode("cp1252"))


# PDF


def test_pdf_text_comes_page_by_page() -> None:
    body = pdf_with_text("Orion (the assistant)\nanswers questions.", "The second page.")
    assert document_blocks("pdf", body) == [
        Block(("Page 1",), "Orion (the assistant)\nanswers questions."),
        Block(("Page 2",), "The second page."),
    ]


def test_a_pdf_encrypted_with_a_password_is_refused() -> None:
    body = encrypted(pdf_with_text("Secret plans."), user_password="secret")
    assert "encrypted with a password" in refusal("pdf", body)


def test_a_pdf_encrypted_without_a_password_to_open_it_is_read() -> None:
    body = encrypted(pdf_with_text("Open to all."), user_password="")
    assert document_blocks("pdf", body) == [Block(("Page 1",), "Open to all.")]


@pytest.mark.parametrize(
    "body",
    [
        b"%PDF-1.4\nthis is not a PDF at all",
        pdf_with_text("Cut short.")[:300],
        b"%PDF-1.7\n" + bytes(range(256)) * 8,
    ],
    ids=["garbage", "truncated", "binary"],
)
def test_a_malformed_pdf_is_refused(body: bytes) -> None:
    assert refusal("pdf", body).startswith("The file could not be read as a PDF: ")


def test_a_file_without_a_pdf_header_is_refused() -> None:
    assert "not a PDF" in refusal("pdf", b"Just words in a file named .pdf")


def test_a_pdf_with_more_pages_than_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "MAX_PDF_PAGES", 3)
    assert "4 pages; the limit is 3" in refusal("pdf", blank_pdf(4))
    assert "no text" in refusal("pdf", blank_pdf(3))  # at the limit it is read


def test_a_pdf_without_text_is_refused_as_maybe_scanned() -> None:
    message = refusal("pdf", blank_pdf(2))
    assert "no text that can be extracted" in message and "scanned" in message


def test_a_pdf_is_read_no_further_once_its_text_passes_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pages_read: list[int] = []
    extract_text = pypdf.PageObject.extract_text

    def counted(page: pypdf.PageObject) -> str:
        pages_read.append(page.page_number or 0)
        return extract_text(page)

    monkeypatch.setattr(pypdf.PageObject, "extract_text", counted)
    monkeypatch.setattr(extract, "MAX_TEXT_CHARS", 50)
    body = pdf_with_text("A" * 30, "B" * 30, "C" * 30, "D" * 30)
    assert "over the limit of 50 characters" in refusal("pdf", body)
    assert pages_read == [0, 1]


def test_a_pdf_stream_inflating_past_pypdfs_limit_is_refused() -> None:
    body = pdf_with_text("x" * 200_000, compress=True)
    assert len(body) < 2_000
    with pypdf.apply_configuration(zlib_maximum_output_length=100_000):
        message = refusal("pdf", body)
    assert "too large once decompressed" in message


# Any kind


@pytest.mark.parametrize("kind", ["text", "markdown", "html", "pdf"])
def test_a_body_over_the_size_limit_is_refused_with_its_size_and_the_limit(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extract, "MAX_BODY_BYTES", 1_000)
    message = refusal(kind, b"%PDF-" + b"a" * 1_496)
    assert message == "The file is 1,501 bytes; the limit is 1,000 bytes."


@pytest.mark.parametrize("body", [b"", b" \n\t\n"])
@pytest.mark.parametrize("kind", ["text", "markdown", "html", "pdf"])
def test_an_empty_document_is_refused(kind: str, body: bytes) -> None:
    assert refusal(kind, body) == "The document is empty."


def test_text_over_the_character_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "MAX_TEXT_CHARS", 100)
    assert "over the limit of 100 characters" in refusal("markdown", b"word " * 30)
    assert document_blocks("markdown", b"word " * 10)


def test_an_unknown_kind_is_refused() -> None:
    assert "Unknown document kind 'docx'" in refusal("docx", b"some bytes")


def test_zip_files_are_never_accepted() -> None:
    assert kind_for_name("manual.zip") is None
    assert kind_for_name("manual.zip", "text/plain") is None
    assert kind_for_name("report.docx") is None
    message = refusal("text", b"PK\x03\x04\x14\x00\x00\x00 rest of an archive")
    assert "zip files are never accepted" in message


@pytest.mark.parametrize(
    ("name", "content_type", "kind"),
    [
        ("notes.txt", "", "text"),
        ("NOTES.TEXT", "", "text"),
        ("guide.md", "", "markdown"),
        ("docs/guide.markdown", "", "markdown"),
        ("page.html", "", "html"),
        ("C:\\saved\\page.HTM", "", "html"),
        ("report.pdf", "application/octet-stream", "pdf"),
        ("report", "application/pdf", "pdf"),
        ("readme", "text/markdown; charset=utf-8", "markdown"),
        ("setup.exe", "", None),
        ("image.png", "", None),
        ("report.pdf.exe", "application/pdf", None),
        ("no-extension", "", None),
    ],
)
def test_the_kind_comes_from_the_extension(name: str, content_type: str, kind: str | None) -> None:
    assert kind_for_name(name, content_type) == kind
