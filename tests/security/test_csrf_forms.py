"""Forms posted without this browser's CSRF token are refused with Orion's own page, and
nothing changes; the same forms with the right token go through."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Conversation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_passwords")]

TITLE = "Before"
_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _token(client: Client, url: str) -> str:
    """The token of the form on ``url``, as the page gives it to this browser."""
    match = _TOKEN.search(client.get(url).text)
    assert match is not None
    return match.group(1)


def _browser(alice: Any | None = None) -> tuple[Client, Conversation | None]:
    """A browser that checks CSRF as real ones do, with a conversation of its own."""
    client = Client(enforce_csrf_checks=True)
    if alice is not None:
        client.force_login(alice)
    response = client.post(
        reverse("chat:new"), {"csrfmiddlewaretoken": _token(client, reverse("chat:index"))}
    )
    assert response.status_code == 302
    conversation = Conversation.objects.order_by("-created_at").first()
    assert conversation is not None
    Conversation.objects.filter(pk=conversation.pk).update(title=TITLE)
    return client, conversation


def _post(client: Client, action: str, conversation: Conversation, **data: str) -> Any:
    if action == "new":
        return client.post(reverse("chat:new"), data)
    if action == "rename":
        url = reverse("chat:rename", args=[conversation.pk])
        return client.post(url, {"title": "After", **data})
    return client.post(reverse("chat:delete", args=[conversation.pk]), data)


def _assert_refused(response: Any) -> None:
    assert response.status_code == 403
    assert b"That form had expired" in response.content
    assert b"reload the page and try again" in response.content
    # Orion's page, not Django's explanation of the mechanism.
    assert b"CSRF" not in response.content and b"csrf" not in response.content


def _assert_unchanged(conversation: Conversation, count: int) -> None:
    assert Conversation.objects.count() == count
    conversation.refresh_from_db()
    assert conversation.title == TITLE


def _assert_done(action: str, response: Any, conversation: Conversation, count: int) -> None:
    assert response.status_code == 302
    if action == "new":
        assert Conversation.objects.count() == count + 1
    elif action == "rename":
        conversation.refresh_from_db()
        assert conversation.title == "After"
    else:
        assert not Conversation.objects.filter(pk=conversation.pk).exists()


ACTIONS = ["new", "rename", "delete"]
WHO = [pytest.param(True, id="signed-in"), pytest.param(False, id="visitor")]


@pytest.mark.parametrize("signed_in", WHO)
@pytest.mark.parametrize("action", ACTIONS)
def test_a_form_without_a_token_is_refused(
    action: str, signed_in: bool, request: pytest.FixtureRequest
) -> None:
    client, conversation = _browser(request.getfixturevalue("alice") if signed_in else None)
    assert conversation is not None
    count = Conversation.objects.count()
    _assert_refused(_post(client, action, conversation))
    _assert_refused(_post(client, action, conversation, csrfmiddlewaretoken=""))
    _assert_refused(_post(client, action, conversation, csrfmiddlewaretoken="x" * 64))
    _assert_unchanged(conversation, count)
    # The same browser's own token is what was missing.
    own = _token(client, reverse("chat:conversation", args=[conversation.pk]))
    response = _post(client, action, conversation, csrfmiddlewaretoken=own)
    _assert_done(action, response, conversation, count)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_token_from_another_session_is_refused(action: str, alice: Any, bob: Any) -> None:
    client, conversation = _browser(alice)
    assert conversation is not None
    other, _ = _browser(bob)
    stolen = _token(other, reverse("chat:index"))
    count = Conversation.objects.count()
    _assert_refused(_post(client, action, conversation, csrfmiddlewaretoken=stolen))
    # ... and in the header htmx sends it in.
    url = {
        "new": reverse("chat:new"),
        "rename": reverse("chat:rename", args=[conversation.pk]),
        "delete": reverse("chat:delete", args=[conversation.pk]),
    }[action]
    response = client.post(url, {"title": "After"}, HTTP_X_CSRFTOKEN=stolen, HTTP_HX_REQUEST="true")
    _assert_refused(response)
    _assert_unchanged(conversation, count)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_right_token_from_another_site_is_refused(action: str, alice: Any) -> None:
    """A page elsewhere that got hold of a valid token still cannot post: its browser
    says where the form came from."""
    client, conversation = _browser(alice)
    assert conversation is not None
    count = Conversation.objects.count()
    token = _token(client, reverse("chat:index"))
    response = client.post(
        reverse("chat:new")
        if action == "new"
        else reverse(f"chat:{action}", args=[conversation.pk]),
        {"title": "After", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="http://evil.example",
    )
    _assert_refused(response)
    _assert_unchanged(conversation, count)


def test_signing_in_and_out_need_the_token_too(alice: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-password"})
    _assert_refused(response)
    assert "_auth_user_id" not in client.session
    client.force_login(alice)
    _assert_refused(client.post(reverse("logout")))
    assert client.get(reverse("chat:index")).text.count("Log out") == 1  # still signed in
