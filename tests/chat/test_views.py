"""Pages: each with its happy path, wrong method, anonymous visitor, another owner, HTMX."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Conversation, Message
from chat.owners import ANON_SESSION_KEY
from chat.ratelimits import wait_words

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_conversation(alice: Any) -> Conversation:
    conversation = Conversation.objects.create(owner_user=alice, title="Alice's plans")
    Message.objects.create(conversation=conversation, role="user", content="Plan a *trip*")
    Message.objects.create(
        conversation=conversation, role="assistant", content="**Go** <script>x()</script>"
    )
    return conversation


def test_a_visitor_gets_the_index_and_an_anonymous_identity_on_creating() -> None:
    client = Client()
    response = client.get(reverse("chat:index"))
    assert response.status_code == 200
    assert b'data-action="new-conversation"' in response.content
    assert ANON_SESSION_KEY not in client.session
    client.post(reverse("chat:new"))
    assert client.session[ANON_SESSION_KEY]


def test_the_page_says_the_answers_come_from_the_simulator() -> None:
    response = Client().get(reverse("chat:index"))
    assert b"built-in simulator" in response.content


def test_the_page_says_when_orion_is_offline(settings: Any) -> None:
    settings.OPENAI_BASE_URL = ""
    response = Client().get(reverse("chat:index"))
    assert b"Offline mode" in response.content


def test_the_index_refuses_post() -> None:
    assert Client().post(reverse("chat:index")).status_code == 405


def test_a_visitor_starts_a_conversation_and_is_taken_to_it() -> None:
    client = Client()
    response = client.post(reverse("chat:new"))
    conversation = Conversation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("chat:conversation", args=[conversation.pk])
    assert conversation.owner_anon == client.session[ANON_SESSION_KEY]
    assert conversation.owner_user is None


def test_starting_a_conversation_over_htmx_redirects_the_page(alice_client: Client) -> None:
    response = alice_client.post(reverse("chat:new"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/c/")


def test_starting_a_conversation_needs_post(alice_client: Client) -> None:
    assert alice_client.get(reverse("chat:new")).status_code == 405


def test_the_owner_sees_the_conversation_rendered_safely(
    alice_client: Client, alices_conversation: Conversation
) -> None:
    response = alice_client.get(reverse("chat:conversation", args=[alices_conversation.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Plan a *trip*" in html  # user text is shown as typed
    assert "<strong>Go</strong>" in html  # assistant markdown is rendered
    assert "<script>x()</script>" not in html
    assert f'ws-connect="/ws/conversations/{alices_conversation.pk}/"' in html
    assert 'id="composer"' in html and 'name="message"' in html


def test_another_owner_gets_404(bob: Any, alices_conversation: Conversation) -> None:
    client = Client()
    client.force_login(bob)
    url = reverse("chat:conversation", args=[alices_conversation.pk])
    assert client.get(url).status_code == 404
    assert client.post(reverse("chat:rename", args=[alices_conversation.pk])).status_code == 404
    assert client.post(reverse("chat:delete", args=[alices_conversation.pk])).status_code == 404
    assert Conversation.objects.filter(pk=alices_conversation.pk).exists()


def test_an_anonymous_visitor_gets_404_for_an_accounts_conversation(
    alices_conversation: Conversation,
) -> None:
    url = reverse("chat:conversation", args=[alices_conversation.pk])
    assert Client().get(url).status_code == 404


def test_the_conversation_page_refuses_post(
    alice_client: Client, alices_conversation: Conversation
) -> None:
    url = reverse("chat:conversation", args=[alices_conversation.pk])
    assert alice_client.post(url).status_code == 405


def test_the_conversation_page_has_a_fixed_number_of_queries(
    alice: Any, alice_client: Client, django_assert_max_num_queries: Any
) -> None:
    for n in range(10):
        conversation = Conversation.objects.create(owner_user=alice, title=f"c{n}")
        Message.objects.create(conversation=conversation, role="user", content="hi")
    alice_client.get(reverse("chat:index"))  # session and user warm-up
    with django_assert_max_num_queries(6):
        response = alice_client.get(reverse("chat:conversation", args=[conversation.pk]))
    assert response.content.count(b"/c/") >= 10


def test_renaming_over_htmx_returns_the_title_partial(
    alice_client: Client, alices_conversation: Conversation
) -> None:
    response = alice_client.post(
        reverse("chat:rename", args=[alices_conversation.pk]),
        {"title": "  Summer   <b>trip</b> "},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert b'id="conversation-header"' in response.content
    assert b"Summer &lt;b&gt;trip&lt;/b&gt;" in response.content
    assert b"<html" not in response.content
    # the sidebar entry (out of band) and the window title change with it
    assert (
        f'id="conv-{alices_conversation.pk}-title" href="/c/{alices_conversation.pk}/" '
        'hx-swap-oob="true">Summer &lt;b&gt;trip&lt;/b&gt;</a>'
    ).encode() in response.content
    assert b"<title>Summer &lt;b&gt;trip&lt;/b&gt; \xc2\xb7 Orion</title>" in response.content
    alices_conversation.refresh_from_db()
    assert alices_conversation.title == "Summer <b>trip</b>"


def test_renaming_to_nothing_is_refused_with_a_reason(
    alice_client: Client, alices_conversation: Conversation
) -> None:
    response = alice_client.post(
        reverse("chat:rename", args=[alices_conversation.pk]),
        {"title": "   "},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422  # the page's htmx config swaps it in
    assert b"cannot be empty" in response.content
    assert b'<details class="rename" open>' in response.content
    alices_conversation.refresh_from_db()
    assert alices_conversation.title == "Alice's plans"


def test_a_refused_title_is_kept_where_it_was_typed(
    alice_client: Client, alices_conversation: Conversation
) -> None:
    typed = "x" * 201 + '"><script>alert(1)</script>'
    for headers in ({"HX-Request": "true"}, {}):
        response = alice_client.post(
            reverse("chat:rename", args=[alices_conversation.pk]), {"title": typed}, headers=headers
        )
        assert response.status_code == 422
        assert b"at most 200 characters" in response.content
        assert ('value="' + "x" * 201 + "&quot;&gt;&lt;script&gt;").encode() in response.content
        assert b"<script>alert(1)" not in response.content
    # without htmx, the whole page comes back with the reason
    assert b'id="messages"' in response.content
    alices_conversation.refresh_from_db()
    assert alices_conversation.title == "Alice's plans"


def test_renaming_without_htmx_redirects_back(
    alice_client: Client, alices_conversation: Conversation
) -> None:
    response = alice_client.post(
        reverse("chat:rename", args=[alices_conversation.pk]), {"title": "Trips"}
    )
    assert response.status_code == 302


def test_rename_needs_post(alice_client: Client, alices_conversation: Conversation) -> None:
    url = reverse("chat:rename", args=[alices_conversation.pk])
    assert alice_client.get(url).status_code == 405


def test_the_owner_deletes_a_conversation(
    alice_client: Client, alices_conversation: Conversation
) -> None:
    response = alice_client.post(
        reverse("chat:delete", args=[alices_conversation.pk]), headers={"HX-Request": "true"}
    )
    assert response["HX-Redirect"] == reverse("chat:index")
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_writes_are_rate_limited(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "2/h"
    client = Client()
    responses = [client.post(reverse("chat:new")) for _ in range(3)]
    assert [r.status_code for r in responses] == [302, 302, 429]
    assert Conversation.objects.count() == 2
    refusal = responses[-1]
    assert 1 <= int(refusal["Retry-After"]) <= 3600
    assert b"Slow down a little" in refusal.content and b"Try again in " in refusal.content


def test_a_write_refused_over_htmx_says_so_in_the_page(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "1/h"
    client = Client()
    client.post(reverse("chat:new"))
    conversation = Conversation.objects.get()
    response = client.post(
        reverse("chat:rename", args=[conversation.pk]),
        {"title": "T"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 429
    assert response["HX-Reswap"] == "none"  # the form stays as it is
    assert b'id="page-error" class="error" role="alert" hx-swap-oob="true"' in response.content
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert f"Try again in {wait_words(retry_after)}.".encode() in response.content
    assert b"<html" not in response.content


def test_visitor_conversations_move_to_the_account_on_login(alice: Any) -> None:
    client = Client()
    client.post(reverse("chat:new"))
    conversation = Conversation.objects.get()
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-password"})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.owner_user == alice and conversation.owner_anon == ""
    assert client.get(reverse("chat:conversation", args=[conversation.pk])).status_code == 200


def test_login_and_logout_pages_work(alice: Any) -> None:
    client = Client()
    assert client.get(reverse("login")).status_code == 200
    client.post(reverse("login"), {"username": "alice", "password": "alice-password"})
    assert client.get(reverse("chat:index")).context["user"] == alice
    client.post(reverse("logout"))
    assert not client.get(reverse("chat:index")).context["user"].is_authenticated


def test_logging_out_hides_the_accounts_conversations(
    alice_client: Client, alices_conversation: Conversation
) -> None:
    alice_client.post(reverse("logout"))
    url = reverse("chat:conversation", args=[alices_conversation.pk])
    assert alice_client.get(url).status_code == 404
