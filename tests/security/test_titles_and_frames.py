"""Hostile titles on the page, and hostile text in what the socket sends: shown, never run.

Titles are never markdown: whatever a title holds is shown as its characters in the
heading, the sidebar, the window title and the rename field. The socket's frames are
swapped into the page by htmx, so they get the same checks as a page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from chat.live.frames import (
    delta_frame,
    exchange_frame,
    message_frame,
    snapshot_frame,
    title_frame,
)
from chat.models import Conversation, Message
from chat.services import ReplyJob
from project.asgi import application
from tests.chat.test_consumer import frames_until_done, send, visitor
from tests.conftest import ws_headers
from tests.security.html_audit import (
    Document,
    inside,
    markup_problems,
    message_bodies,
    page_problems,
)

HOSTILE_TITLES = [
    pytest.param("<script>alert(1)</script>", id="script"),
    pytest.param('"><img src=x onerror=alert(1)>', id="attribute-breakout"),
    pytest.param("' onfocus='alert(1)' autofocus='", id="single-quote-breakout"),
    pytest.param("</title><script>alert(1)</script>", id="title-breakout"),
    pytest.param("{{ request.session }} {% debug %}", id="template-syntax"),
    pytest.param("[click me](javascript:alert(1)) **bold**", id="markdown"),
    pytest.param("&lt;b&gt;already escaped&lt;/b&gt; &amp;", id="entities"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_a_hostile_title_is_shown_as_typed_everywhere_on_the_page(title: str) -> None:
    client = Client()
    client.post(reverse("chat:new"))
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(title=title)

    for url in (reverse("chat:conversation", args=[conversation.pk]), reverse("chat:index")):
        response = client.get(url)
        assert response.status_code == 200
        document = Document(response.content.decode())
        assert page_problems(document) == [], url
        assert document.one("title").text.strip() in (f"{title} · Orion", "Orion")
        sidebar = document.one("a", id=f"conv-{conversation.pk}-title")
        assert sidebar.text == title and inside(document, sidebar) == []
    assert document.one("title").text == "Orion"  # the index: no conversation open

    page = Document(client.get(reverse("chat:conversation", args=[conversation.pk])).text)
    assert page.one("title").text == f"{title} · Orion"
    heading = page.one("h1", id="conversation-title")
    assert heading.text == title and inside(page, heading) == []
    assert page.one("input", name="title").get("value") == title
    assert page.one("input", name="title").get("onfocus") is None


PAYLOAD = (
    '<img src=x onerror=alert(1)><script>alert(1)</script>"><svg onload=alert(1)> '
    "[click me](javascript:alert(1)) <!-- <textarea>"
)


def _message(role: str, status: str, pk: int = 7) -> Message:
    return Message(pk=pk, role=role, status=status, content=PAYLOAD, error_code=PAYLOAD)


def _conversation() -> Conversation:
    return Conversation(pk=uuid.uuid4(), title=PAYLOAD, owner_anon="someone")


def _exchange() -> str:
    job = ReplyJob(
        conversation_id=uuid.uuid4(),
        reply=_message("assistant", "pending", pk=8),
        user_message=_message("user", "complete"),
        history=[],
        needs_title=False,
    )
    return exchange_frame(job)


# (the frame, how many message bodies it holds, whether it carries the title)
FRAMES: list[object] = [
    pytest.param(lambda: delta_frame(7, PAYLOAD), 0, False, id="delta"),
    pytest.param(
        lambda: message_frame(_message("assistant", "streaming")), 1, False, id="streaming"
    ),
    pytest.param(lambda: message_frame(_message("assistant", "complete")), 1, False, id="finished"),
    pytest.param(lambda: message_frame(_message("assistant", "failed")), 1, False, id="failed"),
    pytest.param(_exchange, 2, False, id="exchange"),
    pytest.param(
        lambda: snapshot_frame(
            _conversation(), [_message("user", "complete"), _message("assistant", "complete", 8)]
        ),
        2,
        True,
        id="snapshot",
    ),
    pytest.param(lambda: title_frame(_conversation()), 0, True, id="title"),
]


@pytest.mark.parametrize(("frame", "bodies", "titled"), FRAMES)
def test_socket_frames_carry_hostile_text_as_text(
    frame: Callable[[], str], bodies: int, titled: bool
) -> None:
    html = frame()
    document = Document(html)
    assert page_problems(document) == [], html
    found = message_bodies(document)
    assert len(found) == bodies, html
    for body in found:
        assert markup_problems(inside(document, body)) == [], html
        assert "click me" in body.text and "onerror=alert(1)" in body.text
    if bodies == 0 and not titled:  # a delta: text appended to a streaming reply
        (target,) = document.elements
        assert target.get("hx-swap-oob") == "beforeend:#msg-7-body"
        assert target.text == PAYLOAD
    if titled:
        for element in document.elements:
            if element.tag in ("h1", "a") and (element.get("id") or "").endswith("title"):
                assert element.text == PAYLOAD and inside(document, element) == []


@pytest.mark.django_db(transaction=True)
async def test_hostile_text_sent_and_stored_comes_back_over_the_socket_as_text() -> None:
    """A person's hostile message in the exchange frame, then, on a page that reconnects,
    in the snapshot with a stored hostile reply and title."""
    owner, cookie, conversation = await visitor()
    ws = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.pk}/", ws_headers(cookie)
    )
    assert (await ws.connect())[0]
    await send(ws, PAYLOAD + " [sim:tokens=3]")
    frames = await frames_until_done(ws)  # the reply ends before it is replaced below
    exchange = next(f for f in frames if 'data-role="user"' in f)
    document = Document(exchange)
    assert [page_problems(Document(f)) for f in frames] == [[]] * len(frames)
    user_body = message_bodies(document)[0]
    assert user_body.text == PAYLOAD + " [sim:tokens=3]"
    assert inside(document, user_body) == []
    await ws.disconnect()

    def store() -> None:
        Conversation.objects.filter(pk=conversation.pk).update(title=PAYLOAD)
        Message.objects.filter(conversation=conversation, role="assistant").update(
            content=PAYLOAD, status="complete"
        )

    await database_sync_to_async(store)()
    again = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.pk}/?resume=1", ws_headers(cookie)
    )
    assert (await again.connect())[0]
    snapshot = await again.receive_from(timeout=5)
    await again.disconnect()
    document = Document(snapshot)
    assert page_problems(document) == [], snapshot
    user_body, reply_body = message_bodies(document)
    assert user_body.text == PAYLOAD + " [sim:tokens=3]"
    assert markup_problems(inside(document, reply_body)) == []
    assert "click me" in reply_body.text and "<textarea>" in reply_body.text
    assert document.one("h1", id="conversation-title").text == PAYLOAD
