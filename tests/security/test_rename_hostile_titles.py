"""Renaming over HTTP with hostile titles: a clear refusal that keeps what was typed, or
the title cleaned; never a 500, and the title always shown as text.

Both ways the page renames: the form posted whole (a page back) and htmx (a fragment).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Conversation
from tests.security.html_audit import Document, inside, page_problems

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_passwords")]

BEFORE = "Before"
EMPTY = "A title cannot be empty."
TOO_LONG = "A title can be at most 200 characters."


def _conversation(client: Client) -> Conversation:
    client.post(reverse("chat:new"))
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(title=BEFORE)
    return conversation


def _rename(client: Client, conversation: Conversation, data: Any, htmx: bool) -> Any:
    headers = {"HX-Request": "true"} if htmx else None
    url = reverse("chat:rename", args=[conversation.pk])
    if isinstance(data, bytes):
        form = "application/x-www-form-urlencoded"
        return client.post(url, data, content_type=form, headers=headers)
    return client.post(url, data, headers=headers)


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        pytest.param("x" * 201, TOO_LONG, id="one-too-many"),
        pytest.param("x" * 100_000, TOO_LONG, id="hundred-thousand"),
        pytest.param("<b>" * 67, TOO_LONG, id="long-markup"),
        pytest.param("", EMPTY, id="empty"),
        pytest.param("   \t\n\r\n  ", EMPTY, id="whitespace"),
        pytest.param("\u200b\ufeff", EMPTY, id="invisible"),
        pytest.param("\u3164\u2800 \u200d\u2060", EMPTY, id="blank-fillers"),
        pytest.param("\u202e\u2066\u2069", EMPTY, id="bidi-only"),
        pytest.param("\x00\x00", EMPTY, id="nul-only"),
        pytest.param("\u200b" * 1000, EMPTY, id="many-invisible"),
    ],
)
def test_a_title_that_cannot_be_used_is_refused_in_words(
    typed: str, error: str, alice_client: Client
) -> None:
    conversation = _conversation(alice_client)
    for htmx in (True, False):
        response = _rename(alice_client, conversation, {"title": typed}, htmx)
        assert response.status_code == 422, htmx
        document = Document(response.content.decode())
        assert page_problems(document) == []
        assert document.one("p", id="rename-error").text == error
        field = document.one("input", name="title")
        assert field.get("value") == typed  # what was typed stays, to be fixed
        assert field.get("aria-invalid") == "true"
        assert document.one("h1", id="conversation-title").text == BEFORE
        conversation.refresh_from_db()
        assert conversation.title == BEFORE


def test_a_missing_title_field_is_refused_as_empty(alice_client: Client) -> None:
    conversation = _conversation(alice_client)
    response = _rename(alice_client, conversation, {"name": "x"}, htmx=False)
    assert response.status_code == 422
    assert Document(response.text).one("p", id="rename-error").text == EMPTY
    conversation.refresh_from_db()
    assert conversation.title == BEFORE


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        pytest.param("pay \u202eusd 01\u202c now", "pay usd 01 now", id="bidi-override"),
        pytest.param("\u2067evil\u2069 isolate", "evil isolate", id="bidi-isolate"),
        pytest.param("a\x00b\x07c\x1b[31md", "abc[31md", id="controls"),
        pytest.param("  many   spaces\n\nand\tlines  ", "many spaces and lines", id="spacing"),
        pytest.param("e\u0301te\u0301", "\u00e9t\u00e9", id="decomposed"),
        pytest.param("y" * 200, "y" * 200, id="at-the-limit"),
        pytest.param("z" + " " * 300 + "z", "z z", id="long-only-in-spaces"),
        pytest.param("<script>alert(1)</script>", "<script>alert(1)</script>", id="script"),
        pytest.param('"><img src=x onerror=alert(1)>', '"><img src=x onerror=alert(1)>', id="img"),
        pytest.param(b"title=%ED%A0%80%FF", None, id="invalid-utf8"),
    ],
)
def test_a_usable_title_is_cleaned_and_shown_as_text(
    typed: str | bytes, shown: str | None, alice_client: Client
) -> None:
    conversation = _conversation(alice_client)
    data = typed if isinstance(typed, bytes) else {"title": typed}

    fragment = _rename(alice_client, conversation, data, htmx=True)
    assert fragment.status_code == 200, fragment.content[:300]
    conversation.refresh_from_db()
    title = conversation.title
    assert title != BEFORE and 0 < len(title) <= 200
    if shown is not None:
        assert title == shown
    document = Document(fragment.content.decode())
    assert page_problems(document) == []
    assert document.one("title").text == f"{title} · Orion"
    for element in (
        document.one("h1", id="conversation-title"),
        document.one("a", id=f"conv-{conversation.pk}-title"),
    ):
        assert element.text == title and inside(document, element) == []

    response = _rename(alice_client, conversation, data, htmx=False)
    assert response.status_code == 302
    page = alice_client.get(response["Location"])
    document = Document(page.content.decode())
    assert page_problems(document) == []
    assert document.one("h1", id="conversation-title").text == title
    assert document.one("input", name="title").get("value") == title
