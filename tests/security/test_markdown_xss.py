"""Script smuggled in markdown, by the model or by a person: it is shown, never run.

Each hostile text goes through ``render_markdown`` (how a finished reply is shown) and
through a whole conversation page, stored both as a person's message (shown as plain,
escaped text) and as a finished reply (markdown). The simulator only writes plain English
words, so hostile model output is stored through the ORM; the socket's frames are
checked with hostile messages in ``test_titles_and_frames``.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Conversation, Message
from chat.rendering import render_markdown
from tests.security.html_audit import (
    Document,
    inside,
    markup_problems,
    message_bodies,
    page_problems,
)

pytestmark = pytest.mark.django_db

# (markdown, words that must still be shown, id)
HOSTILE_MARKDOWN = [
    pytest.param("[click me](javascript:alert(1))", ["click me"], id="js-link"),
    pytest.param("[click me](JaVaScRiPt:alert(1))", ["click me"], id="js-link-mixed-case"),
    pytest.param("[click me](&#106;avascript:alert(1))", ["click me"], id="js-link-decimal-ref"),
    pytest.param("[click me](&#x6A;avascript&#x3A;alert(1))", ["click me"], id="js-link-hex-refs"),
    pytest.param("[click me](javascript&colon;alert(1))", ["click me"], id="js-link-named-ref"),
    pytest.param("[click me](&#0000106;avascript:alert(1))", ["click me"], id="js-link-padded"),
    pytest.param("[click me](java\nscript:alert(1))", ["click me"], id="js-link-newline"),
    pytest.param("[click me](<java\tscript:alert(1)>)", ["click me"], id="js-link-tab"),
    pytest.param("[click me](jav&#x09;ascript:alert(1))", ["click me"], id="js-link-tab-ref"),
    pytest.param("[click me](<  javascript:alert(1)>)", ["click me"], id="js-link-leading-space"),
    pytest.param("[click me](\x01javascript:alert(1))", ["click me"], id="js-link-control-char"),
    pytest.param("<javascript:alert(1)>", ["alert(1)"], id="js-autolink"),
    pytest.param("[click me][r]\n\n[r]: javascript:alert(1)", ["click me"], id="js-reference"),
    pytest.param("[click me](vbscript:msgbox(1))", ["click me"], id="vbscript-link"),
    pytest.param("[click me](VBScript:msgbox(1))", ["click me"], id="vbscript-mixed-case"),
    pytest.param(
        "[click me](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        ["click me"],
        id="data-html-link",
    ),
    pytest.param(
        "[click me](DaTa:text/html,<script>alert(1)</script>)", ["click me"], id="data-html-case"
    ),
    pytest.param("![cat](javascript:alert(1))", ["cat"], id="js-image"),
    pytest.param(
        "![cat](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)", ["cat"], id="svg-image"
    ),
    pytest.param(
        "before ![cat](data:image/png;base64,iVBORw0KGgo=) after",
        ["before", "after"],
        id="png-data-image",
    ),
    pytest.param(
        "before ![cat](https://evil.example/pixel.png) after",
        ["before", "after"],
        id="remote-image",
    ),
    pytest.param("<svg onload=alert(1)>hello", ["<svg onload=alert(1)>hello"], id="svg-onload"),
    pytest.param("<img src=x onerror=alert(1)>", ["<img src=x onerror=alert(1)>"], id="img"),
    pytest.param('<iframe src="https://evil.example"></iframe>', ["<iframe"], id="iframe"),
    pytest.param("<script>alert(1)</script>", ["<script>alert(1)</script>"], id="script"),
    pytest.param("<ScRiPt >alert(1)</sCrIpT>", ["<ScRiPt >alert(1)"], id="script-mixed-case"),
    pytest.param(
        "<style>body{display:none}</style>", ["<style>body{display:none}</style>"], id="style"
    ),
    pytest.param(
        '<a href="https://evil.example" target="_blank">prize</a>', ["prize"], id="target-blank"
    ),
    pytest.param('<b onmouseover="alert(1)">bold</b>', ["bold"], id="handler-on-bold"),
    pytest.param(
        "<!-- --><script>alert(1)</script><!-- -->", ["<script>alert(1)</script>"], id="comments"
    ),
    pytest.param("<!--><img src=x onerror=alert(1)>-->", ["onerror"], id="comment-trick"),
    pytest.param(
        "<div><table><textarea><title><!--", ["<textarea><title><!--"], id="unclosed-tags"
    ),
    pytest.param(
        '<div hx-post="/conversations/new/" hx-trigger="load">x</div>', ["hx-post"], id="htmx"
    ),
    pytest.param("`<script>alert(1)</script>`", ["<script>alert(1)</script>"], id="code-span"),
    pytest.param('```"><script>alert(1)</script>\ncode\n```', ["code"], id="fence-info-breakout"),
    pytest.param(
        '[x](https://example.org "a\\" onclick=\\"alert(1)")', ["x"], id="link-title-breakout"
    ),
    pytest.param('[x](https://example.org/"onmouseover="alert(1))', ["x"], id="link-href-breakout"),
    pytest.param("**<img src=x onerror=alert(1)>**", ["onerror=alert(1)"], id="in-emphasis"),
    pytest.param(
        "| a |\n|---|\n| <script>alert(1)</script> |", ["<script>alert(1)</script>"], id="table"
    ),
    pytest.param(
        "[<img src=x onerror=alert(1)>](https://example.org)", ["onerror"], id="html-link-text"
    ),
]


@pytest.mark.parametrize(("source", "shown"), HOSTILE_MARKDOWN)
def test_render_markdown_keeps_only_formatting(source: str, shown: list[str]) -> None:
    html = str(render_markdown(source))
    document = Document(html)
    assert markup_problems(document.elements) == [], html
    assert "<script" not in html.lower() and "<img" not in html.lower(), html
    for words in shown:
        assert words in document.text, (words, html)


@pytest.mark.parametrize(
    ("source", "href"),
    [
        ("[docs](https://example.org/a?b=1&c=2)", "https://example.org/a?b=1&c=2"),
        ("<https://example.org>", "https://example.org"),
        ("[mail](mailto:someone@example.org)", "mailto:someone@example.org"),
        (
            "[here](/c/00000000-0000-0000-0000-000000000000/)",
            "/c/00000000-0000-0000-0000-000000000000/",
        ),  # noqa: E501
    ],
)
def test_plain_links_survive_and_give_the_opened_page_no_handle(source: str, href: str) -> None:
    """Links are allowed: they keep their address, and every one is marked noopener,
    noreferrer and nofollow, with no target of their own."""
    document = Document(str(render_markdown(source)))
    (link,) = document.find("a")
    assert link.get("href") == href
    assert set((link.get("rel") or "").split()) >= {"noopener", "noreferrer", "nofollow"}
    assert link.get("target") is None


def _conversation_with(client: Client, text: str, title: str = "") -> Conversation:
    client.post(reverse("chat:new"))
    conversation = Conversation.objects.get()
    if title:
        Conversation.objects.filter(pk=conversation.pk).update(title=title)
    Message.objects.create(conversation=conversation, role="user", content=text)
    Message.objects.create(
        conversation=conversation, role="assistant", content=text, status="complete"
    )
    return conversation


@pytest.mark.parametrize(("source", "shown"), HOSTILE_MARKDOWN)
def test_a_conversation_page_shows_hostile_text_without_running_it(
    source: str, shown: list[str]
) -> None:
    client = Client()
    conversation = _conversation_with(client, source)
    response = client.get(reverse("chat:conversation", args=[conversation.pk]))
    assert response.status_code == 200
    document = Document(response.content.decode())
    assert page_problems(document) == []

    user_body, reply_body = message_bodies(document)
    # The person's message: exactly what they typed, as text.
    assert user_body.text == source
    assert inside(document, user_body) == []
    # The reply: formatting at most, and the words still there.
    assert markup_problems(inside(document, reply_body)) == []
    for words in shown:
        assert words in reply_body.text
    # Nothing was swallowed: the composer still follows, outside any message.
    composer = document.one("form", id="composer")
    assert not [a for a in composer.ancestors() if a.tag == "article"]
    assert len(document.find("article")) == 2
