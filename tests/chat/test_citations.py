"""Citations in a reply's text, ``[n]``, linked to the passages listed under it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.safestring import mark_safe

from chat.rendering import citations_linked, render_markdown

SOURCES = [
    {"n": 1, "label": "Guide › Stopping", "url": "/p/1"},
    {"n": 3, "label": 'Notes "<b>"', "url": "/p/3"},
    {"n": 4, "label": "Gone", "url": ""},  # a source that names no document
]


def href(source: Mapping[str, Any]) -> str:
    return str(source["url"])


def linked(text: str) -> str:
    return citations_linked(render_markdown(text), SOURCES, href)


def test_a_citation_naming_a_source_links_to_its_passage() -> None:
    assert linked("Press Stop [1].") == (
        '<p>Press Stop <a class="cite" href="/p/1" data-cite="1" title="Guide › Stopping">[1]'
        "</a>.</p>\n"
    )


def test_numbers_naming_no_linked_source_stay_text() -> None:
    assert linked("See [2], [4] and [99].") == "<p>See [2], [4] and [99].</p>\n"


def test_code_and_links_are_left_alone_and_labels_are_escaped() -> None:
    html = linked("`a[1]`\n\n```\nb[1]\n```\n\n[see [3]](https://example.com) and [3]")
    assert "<code>a[1]</code>" in html and "b[1]\n</code></pre>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">see [3]</a>' in html
    assert html.endswith(
        'and <a class="cite" href="/p/3" data-cite="3" title="Notes &quot;&lt;b&gt;&quot;">[3]'
        "</a></p>\n"
    )


def test_a_reply_without_sources_is_returned_as_it_was() -> None:
    html = render_markdown("Plain [1]")
    assert citations_linked(html, [], href) is html


def test_several_numbers_in_one_citation_are_each_linked() -> None:
    assert linked("Both [1, 3] and [2, 4].") == (
        '<p>Both [<a class="cite" href="/p/1" data-cite="1" title="Guide › Stopping">1</a>, '
        '<a class="cite" href="/p/3" data-cite="3" title="Notes &quot;&lt;b&gt;&quot;">3</a>] '
        "and [2, 4].</p>\n"
    )


def test_tags_are_read_whole_even_when_an_attribute_holds_markup() -> None:
    # (what an older sanitizer leaves in a link's title: the tags must be read whole)
    html = '<p><a href="https://e.com" title="A</a> [1] <img src=x onerror=alert(1)>">x</a> [1]</p>'
    out = citations_linked(mark_safe(html), SOURCES, href)  # noqa: S308
    assert 'title="A</a> [1] <img src=x onerror=alert(1)>">x</a> <a class="cite"' in out
    assert out.count('class="cite"') == 1


def test_headings_tables_and_odd_stored_sources() -> None:
    html = linked("# Stop [1]\n\n| a | b |\n|---|---|\n| [3] | `[1]` |")
    assert '<h1>Stop <a class="cite" href="/p/1"' in html
    assert '<td><a class="cite" href="/p/3"' in html and "<code>[1]</code>" in html
    for odd in ({"n": 1}, ["x", {"n": "1", "url": "/p/1"}, {"n": 1.0, "url": "/p/1"}], None):
        assert citations_linked(render_markdown("[1]"), odd, href) == "<p>[1]</p>\n"


def test_a_long_reply_is_linked_too_without_being_kept() -> None:
    text = "word " * 10_000 + "[1]"
    assert linked(text).endswith('title="Guide › Stopping">[1]</a></p>\n')
