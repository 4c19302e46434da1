from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from project.env import database_from_url, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def test_booleans_are_read_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "yes")
    assert env_bool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "nope")
    with pytest.raises(ImproperlyConfigured):
        env_bool("X_FLAG", False)


def test_integers_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_INT", "12")
    assert env_int("X_INT", 1) == 12
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 1, minimum=1)


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_LIST", " a.example, b.example ,,")
    assert env_list("X_LIST", []) == ["a.example", "b.example"]


def test_database_urls_are_parsed() -> None:
    db = database_from_url("postgres://orion:s%40cret@db.internal:6543/orion")
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "orion", "orion", "s@cret", "db.internal", "6543",
    )  # fmt: skip
    assert database_from_url("sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"  # noqa: S108
    with pytest.raises(ImproperlyConfigured):
        database_from_url("mysql://x/y")


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ORION_"))}
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_settings_pass_the_deploy_check() -> None:
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="a-real-secret-key-of-more-than-fifty-characters-abcdefghijklmnop",
        DJANGO_ALLOWED_HOSTS="orion.example.com",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://orion.example.com",
        DJANGO_SECURE="true",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_a_secret_key_refuses_to_start() -> None:
    result = _manage("check", DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_the_redis_channel_layer_takes_a_burst_of_group_operations() -> None:
    """redis-py's default pool (100) refused concurrent group operations under a burst."""
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings; import json; "
        "print(json.dumps(settings.CHANNEL_LAYERS['default']['CONFIG']['hosts']))",
        REDIS_URL="redis://127.0.0.1:6379/9",
    )
    assert result.returncode == 0, result.stderr
    (host,) = json.loads(result.stdout.strip().splitlines()[-1])
    assert host["max_connections"] >= 1000
