"""Sockets open only from the site's own pages: scheme, host and port must all match."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from project.asgi import application
from project.websocket_origin import normalized_origin, origin_allowed
from tests.chat.test_consumer import visitor

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://127.0.0.1:8000", True),
        ("HTTP://127.0.0.1:8000", True),
        ("http://127.0.0.1:9999", False),  # another port: another origin
        ("https://127.0.0.1:8000", False),  # another scheme
        ("http://127.0.0.1", False),
        ("http://evil.example", False),
        ("http://127.0.0.1:8000.evil.example", False),
        ("null", False),
        ("", False),
        ("file://", False),
        ("http://127.0.0.1:8000/path", False),
        ("http://127.0.0.1:99999", False),
    ],
)
async def test_only_the_pages_own_origin_opens_a_socket(origin: str, allowed: bool) -> None:
    _, cookie, conversation = await visitor()
    headers = [(b"host", b"127.0.0.1:8000"), (b"cookie", cookie)]
    if origin:
        headers.append((b"origin", origin.encode()))
    ws = WebsocketCommunicator(application, f"/ws/conversations/{conversation.pk}/", headers)
    connected, _ = await ws.connect()
    assert connected is allowed
    await ws.disconnect()


def test_a_secure_page_needs_a_secure_origin() -> None:
    assert origin_allowed(origin="https://127.0.0.1:8000", host="127.0.0.1:8000", secure=True)
    assert not origin_allowed(origin="http://127.0.0.1:8000", host="127.0.0.1:8000", secure=True)


@override_settings(ALLOWED_HOSTS=["orion.example"])
def test_a_host_outside_allowed_hosts_is_refused_even_from_its_own_origin() -> None:
    assert not origin_allowed(origin="http://evil.example", host="evil.example", secure=False)
    assert origin_allowed(origin="https://orion.example", host="orion.example", secure=True)


@override_settings(ALLOWED_HOSTS=["orion.example"], CSRF_TRUSTED_ORIGINS=["https://app.example"])
def test_csrf_trusted_origins_may_open_sockets() -> None:
    assert origin_allowed(origin="https://app.example", host="orion.example", secure=True)
    assert not origin_allowed(origin="http://app.example", host="orion.example", secure=True)


def test_default_ports_are_the_same_origin() -> None:
    assert normalized_origin("https://orion.example:443") == "https://orion.example"
    assert normalized_origin("http://[::1]:8000") == "http://[::1]:8000"
    assert normalized_origin("javascript:alert(1)") is None
