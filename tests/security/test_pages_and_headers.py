"""Headers on every page, and error pages that show no internals."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.defaults import bad_request, permission_denied, server_error

from chat.models import Conversation

pytestmark = pytest.mark.django_db


def test_pages_are_private_and_carry_the_security_headers(alice_client: Client) -> None:
    conversation = alice_client.post(reverse("chat:new"))["Location"]
    for url in (reverse("chat:index"), conversation, reverse("login")):
        response = alice_client.get(url)
        assert response.status_code == 200, url
        cache = response["Cache-Control"]
        assert "private" in cache and "no-store" in cache, url
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response["X-Frame-Options"] == "DENY"
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy and "unsafe" not in policy


def test_fragments_are_private_too(alice_client: Client) -> None:
    alice_client.post(reverse("chat:new"))
    conversation = Conversation.objects.get()
    response = alice_client.post(
        reverse("chat:rename", args=[conversation.pk]), {"title": "New"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_a_404_is_orions_own_page_and_lists_no_urls() -> None:
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert b"This page does not exist" in response.content
    assert b"URLconf" not in response.content and b"chat:" not in response.content


def test_someone_elses_conversation_is_a_plain_404(alice_client: Client, bob: Any) -> None:
    other = Client()
    other.force_login(bob)
    url = other.post(reverse("chat:new"))["Location"]
    response = alice_client.get(url)
    assert response.status_code == 404
    assert b"This page does not exist" in response.content


@pytest.mark.parametrize(
    ("view", "status", "words"),
    [
        (server_error, 500, b"Something went wrong on Orion"),
        (bad_request, 400, b"could not understand that request"),
        (permission_denied, 403, b"You cannot open this page"),
    ],
)
def test_error_pages_say_what_happened_in_words(view: Any, status: int, words: bytes) -> None:
    request = RequestFactory().get("/")
    response = view(request) if view is server_error else view(request, Exception("x"))
    assert response.status_code == status
    assert words in response.content and b"Traceback" not in response.content


def test_a_csrf_failure_is_explained() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("chat:new"))
    assert response.status_code == 403
    assert b"That form had expired" in response.content


def test_a_bare_page_view_stores_no_session() -> None:
    from django.contrib.sessions.models import Session

    client = Client()
    for _ in range(3):
        response = client.get(reverse("chat:index"))
        assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert not Session.objects.exists()
    client.post(reverse("chat:new"))  # creating something is what makes a session
    assert Session.objects.count() == 1
