"""Fixtures the agents' tests share."""

from __future__ import annotations

from collections.abc import Iterator
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client

from tests.faults.servers import RedisProcess


@pytest.fixture
def admin_client(django_user_model: type[User]) -> Client:
    """A client signed in as the superuser "root" (the admin's pages)."""
    user = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def shared_cache(settings: Any) -> Iterator[str]:
    """The Django cache on a Redis of the test's own, as every process would share it."""
    with TemporaryDirectory() as directory:
        redis = RedisProcess(directory)
        try:
            settings.CACHES = {"default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis.url, "KEY_PREFIX": "orion"}}  # fmt: skip
            yield redis.url
        finally:
            caches["default"].close()
            redis.stop()
