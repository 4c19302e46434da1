"""Fixtures for the hostile-input tests in this package."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def quick_passwords(settings: Any) -> None:
    """Opt-in (``pytest.mark.usefixtures``): people are made with a cheap password hash.

    The tests that ask for it sign people in with ``force_login`` and never check a
    password; hashing one with the real hasher costs a third of a second per person.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
