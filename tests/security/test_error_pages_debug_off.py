"""With DEBUG off (as ``make run`` and production serve), every error is Orion's own page:
no URL patterns, no traceback, no settings, nothing of the request echoed back. Error
pages and refusals carry the same security headers as every other page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path, reverse

from tests.security.html_audit import Document, page_problems

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_passwords")]

# Words only Django's debug pages (and its bare default pages) use.
INTERNALS = [
    b"URLconf",
    b"urlpatterns",
    b"Django tried",
    b"project.urls",
    b"chat.urls",
    b"Traceback",
    b"SECRET_KEY",
    b"DEBUG = True",
    b"settings.py",
    b"ALLOWED_HOSTS",
    b"DisallowedHost",
    b"Request Method",
    b"Exception Value",
    b"site-packages",
    b"Server time",
]


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom: the secret internals of /srv/orion/settings.py")


# The URLconf of the 500 test: one view that fails.
urlpatterns = [path("boom/", _boom)]


def _assert_orions_page(response: Any, status: int, heading: bytes) -> Document:
    assert settings.DEBUG is False
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert heading in response.content
    for word in INTERNALS:
        assert word not in response.content, word
    document = Document(response.content.decode())
    assert page_problems(document) == []
    assert document.find("main", data_role="error-page")
    sheets = [e.get("href") or "" for e in document.find("link", rel="stylesheet")]
    assert sheets and all(h.startswith("/static/css/") for h in sheets)
    return document


NOT_FOUND = b"This page does not exist"


@override_settings(DEBUG=False)
@pytest.mark.parametrize(
    "url",
    [
        "/no/such/page/",
        "/c/not-a-uuid/",
        "/c/12345678-1234-1234-1234-1234567890ab/",
        "/c/12345678-1234-1234-1234-1234567890ab/rename/x/",
        "/c/%3Cscript%3Ealert(1)%3C/script%3E/",
        "/static/../project/settings.py",
        "/.env",
        "/conversations/new/%00/",
    ],
)
def test_an_unknown_address_is_orions_404(url: str) -> None:
    response = Client().get(url)
    document = _assert_orions_page(response, 404, NOT_FOUND)
    assert "<script" not in response.text and "alert(1)" not in document.text


@override_settings(DEBUG=False)
@pytest.mark.parametrize(
    "host",
    [
        pytest.param("evil.example", id="other-site"),
        pytest.param("evil.example:8000", id="other-site-port"),
        pytest.param("127.0.0.1@evil.example", id="userinfo"),
        pytest.param("127.0.0.1:8000.evil.example", id="suffix"),
        pytest.param("<script>alert(1)</script>", id="markup"),
        pytest.param("a" * 300, id="overlong"),
    ],
)
def test_a_host_orion_does_not_serve_gets_the_friendly_400(host: str) -> None:
    response = Client().get(reverse("chat:index"), HTTP_HOST=host)
    document = _assert_orions_page(response, 400, b"Orion could not understand that request")
    assert host.encode() not in response.content
    assert "<script" not in response.text and "alert(1)" not in document.text


@override_settings(DEBUG=False, ROOT_URLCONF=__name__)
def test_a_failing_view_is_orions_500_with_nothing_of_the_failure() -> None:
    response = Client(raise_request_exception=False).get("/boom/")
    _assert_orions_page(response, 500, b"Something went wrong on Orion")
    assert b"boom" not in response.content and b"RuntimeError" not in response.content


def _policy(response: Any) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _admin_login(client: Client) -> Any:
    return client.get("/" + settings.ORION_ADMIN_PATH + "login/")


def _not_found(client: Client) -> Any:
    return client.get("/no/such/page/")


def _bad_host(client: Client) -> Any:
    return client.get("/", HTTP_HOST="evil.example")


def _csrf_refused(client: Client) -> Any:
    return Client(enforce_csrf_checks=True).post(reverse("chat:new"))


def _method_refused(client: Client) -> Any:
    return client.get(reverse("chat:new"))


def _rename_refused(client: Client, htmx: bool = False) -> Any:
    url = client.post(reverse("chat:new"))["Location"]
    headers = {"HX-Request": "true"} if htmx else None
    return client.post(url + "rename/", {"title": "\u200b"}, headers=headers)


def _rename_refused_htmx(client: Client) -> Any:
    return _rename_refused(client, htmx=True)


def _rate_limited(client: Client) -> Any:
    response = None
    for _ in range(100):
        response = client.post(reverse("chat:new"))
        if response.status_code == 429:
            break
    return response


def _server_error(client: Client) -> Any:
    with override_settings(ROOT_URLCONF=__name__):
        return Client(raise_request_exception=False).get("/boom/")


@override_settings(DEBUG=False)
@pytest.mark.parametrize(
    ("make", "status"),
    [
        pytest.param(_admin_login, 200, id="admin-login"),
        pytest.param(_not_found, 404, id="not-found"),
        pytest.param(_bad_host, 400, id="bad-host"),
        pytest.param(_csrf_refused, 403, id="csrf-refused"),
        pytest.param(_method_refused, 405, id="method-refused"),
        pytest.param(_rename_refused, 422, id="rename-refused"),
        pytest.param(_rename_refused_htmx, 422, id="rename-refused-fragment"),
        pytest.param(_rate_limited, 429, id="rate-limited"),
        pytest.param(_server_error, 500, id="server-error"),
    ],
)
def test_every_kind_of_answer_carries_the_security_headers(
    make: Callable[[Client], Any], status: int, alice_client: Client
) -> None:
    response = make(alice_client)
    assert response.status_code == status
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        assert policy[directive] == ["'self'"], directive
    assert "unsafe" not in response["Content-Security-Policy"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
