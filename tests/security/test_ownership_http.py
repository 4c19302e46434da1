"""Someone else's conversation over HTTP: a plain 404, the same as for one that never
existed, and nothing about it changes. Staff and superusers are no exception: the chat
pages show a person's own conversations only (the admin is where staff look)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from chat.models import Conversation, Message

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_passwords")]

TITLE = "Alpha plan for the vault"
SECRET = "the vault code is 0420"


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _visitor() -> Client:
    """A visitor with a session of their own (made by creating a conversation)."""
    client = Client()
    assert client.post(reverse("chat:new")).status_code == 302
    return client


def _owner(kind: str, request: pytest.FixtureRequest) -> tuple[Client, Conversation]:
    client = _signed_in(request.getfixturevalue("alice")) if kind == "alice" else _visitor()
    client.post(reverse("chat:new"))
    conversation = Conversation.objects.filter(title="").order_by("-created_at").first()
    assert conversation is not None
    Conversation.objects.filter(pk=conversation.pk).update(title=TITLE)
    Message.objects.create(conversation=conversation, role="user", content=SECRET)
    Message.objects.create(
        conversation=conversation, role="assistant", content=SECRET, status="complete"
    )
    return client, conversation


def _intruder(kind: str, request: pytest.FixtureRequest) -> Client:
    if kind == "another-user":
        return _signed_in(request.getfixturevalue("bob"))
    if kind in ("staff", "superuser"):
        staff = request.getfixturevalue("staff")
        staff.is_superuser = kind == "superuser"
        staff.save()
        return _signed_in(staff)
    if kind == "another-visitor":
        return _visitor()
    return Client()  # anonymous: no session at all


def _act(client: Client, action: str, pk: uuid.UUID | str, htmx: bool = False) -> Any:
    headers = {"HX-Request": "true"} if htmx else None
    if action == "view":
        return client.get(f"/c/{pk}/", headers=headers)
    if action == "rename":
        return client.post(f"/c/{pk}/rename/", {"title": "Taken over"}, headers=headers)
    return client.post(f"/c/{pk}/delete/", headers=headers)


@pytest.mark.parametrize("action", ["view", "rename", "delete"])
@pytest.mark.parametrize(
    "intruder", ["another-user", "staff", "superuser", "anonymous", "another-visitor"]
)
@pytest.mark.parametrize("owner", ["alice", "visitor"])
def test_someone_elses_conversation_is_not_found_and_stays_as_it_was(
    owner: str, intruder: str, action: str, request: pytest.FixtureRequest
) -> None:
    owner_client, conversation = _owner(owner, request)
    other = _intruder(intruder, request)

    for htmx in (False, True):
        response = _act(other, action, conversation.pk, htmx=htmx)
        assert response.status_code == 404, (htmx, response.content[:300])
        assert b"This page does not exist" in response.content
        for leak in (TITLE.encode(), SECRET.encode(), str(conversation.pk).encode()):
            assert leak not in response.content
        # Indistinguishable from a conversation that never existed.
        missing = _act(other, action, uuid.uuid4(), htmx=htmx)
        assert (missing.status_code, missing.content) == (404, response.content)

    conversation.refresh_from_db()
    assert conversation.title == TITLE
    assert [m.content for m in conversation.messages.all()] == [SECRET, SECRET]
    # ... and the owner still has it, as it was.
    page = owner_client.get(f"/c/{conversation.pk}/")
    assert page.status_code == 200 and TITLE in page.text and SECRET in page.text


@pytest.mark.parametrize("action", ["view", "rename", "delete"])
def test_a_stranger_refused_leaves_nothing_behind(
    action: str, request: pytest.FixtureRequest
) -> None:
    """A browser with no session that is refused gets no session either: only creating
    something makes one (as for a bare page view), so 404s cannot fill the session store."""
    _, conversation = _owner("alice", request)
    sessions = Session.objects.count()
    for pk in (conversation.pk, uuid.uuid4()):
        stranger = Client()
        response = _act(stranger, action, pk)
        assert response.status_code == 404
        assert settings.SESSION_COOKIE_NAME not in response.cookies, action
        assert Session.objects.count() == sessions, action


@pytest.mark.parametrize("owner", ["alice", "visitor"])
def test_nobody_elses_sidebar_lists_the_conversation(
    owner: str, request: pytest.FixtureRequest
) -> None:
    owner_client, conversation = _owner(owner, request)
    assert TITLE in owner_client.get(reverse("chat:index")).text
    for intruder in ("another-user", "staff", "another-visitor", "anonymous"):
        page = _intruder(intruder, request).get(reverse("chat:index"))
        assert page.status_code == 200
        assert TITLE not in page.text and str(conversation.pk) not in page.text, intruder


@pytest.mark.parametrize(
    "path",
    [
        "/c/not-a-uuid/",
        "/c/not-a-uuid/rename/",
        "/c/00000000-0000-0000-0000-00000000000g/delete/",
        "/c/%00/",
        "/c/../admin/",
    ],
)
def test_malformed_conversation_addresses_are_not_found(alice_client: Client, path: str) -> None:
    for response in (alice_client.get(path), alice_client.post(path, {"title": "x"})):
        assert response.status_code == 404
        assert b"This page does not exist" in response.content
