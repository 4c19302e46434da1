"""Guessed passwords: a brake per account and per address on /login/ and the admin's sign-in."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/" + settings.ORION_ADMIN_PATH + "login/"


def _login(
    client: Client, username: str, password: str, ip: str = "10.1.1.1", url: str = ""
) -> Any:
    return client.post(
        url or reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
    )


def _assert_locked_out(response: Any) -> None:
    assert response.status_code == 429
    assert b"Too many sign-in attempts" in response.content
    assert b"Try again in 15 minutes" in response.content
    assert int(response["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()


def test_wrong_passwords_lock_the_account_even_against_the_right_one(alice: Any) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _login(client, "alice", "guess")
        assert response.status_code == 200  # the form again, with its error
        assert b"Please enter a correct username and password" in response.content
    _assert_locked_out(_login(client, "alice", "guess"))
    _assert_locked_out(_login(client, "alice", "alice-password"))
    assert "_auth_user_id" not in client.session
    # ... from another address too: the account itself is paused.
    _assert_locked_out(_login(Client(), "alice", "alice-password", ip="10.9.9.9"))


def test_wrong_passwords_from_one_address_lock_that_address(alice: Any, bob: Any) -> None:
    client = Client()
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"someone-{i}", "guess")
    _assert_locked_out(_login(client, "bob", "bob-password"))
    elsewhere = _login(Client(), "bob", "bob-password", ip="10.2.2.2")
    assert elsewhere.status_code == 302


def test_a_success_clears_the_count(alice: Any) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "alice", "guess")
    assert _login(client, "alice", "alice-password").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "alice", "guess").status_code == 200
    assert _login(client, "alice", "alice-password").status_code == 302


def test_the_admin_sign_in_is_braked_too(staff: Any) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "staff", "guess", url=ADMIN_LOGIN)
    _assert_locked_out(_login(client, "staff", "staff-password", url=ADMIN_LOGIN))
    assert client.get("/" + settings.ORION_ADMIN_PATH).status_code == 302  # still signed out


def test_the_admin_lives_at_its_setting() -> None:
    assert reverse("admin:index") == "/" + settings.ORION_ADMIN_PATH
