"""Fixtures shared by the whole suite: people, the simulator, sessions, real services.

Every model call in the suite goes to the project's own LLM simulator over real HTTP.
With ``ORION_REQUIRE_SERVICES=1`` (set by ``.ci/run``) the session fails at once unless
PostgreSQL and Redis are configured and answering: CI never quietly runs on the
embedded defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from channels.layers import channel_layers
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.cached_db import SessionStore
from django.core.cache import cache
from django.db import connection
from django.test import Client

from agents.knowledge.memory import memory_forget
from agents.simulator import SimulatorConfig, SimulatorThread, run_in_thread
from chat.owners import ANON_SESSION_KEY, Owner
from chat.services.admission import gate
from project.tasks import tasks_settle

BASE_DIR = Path(__file__).resolve().parent.parent
ORIGIN = "http://127.0.0.1:8000"


def _port_open(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("ORION_REQUIRE_SERVICES") != "1":
        return
    problems = []
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        problems.append("DATABASE_URL must point at PostgreSQL")
    elif not _port_open(database_url, 5432):
        problems.append(f"PostgreSQL is not answering at {urlsplit(database_url).netloc}")
    if not redis_url:
        problems.append("REDIS_URL must be set")
    elif not _port_open(redis_url, 6379):
        problems.append(f"Redis is not answering at {urlsplit(redis_url).netloc}")
    if problems:
        pytest.exit("ORION_REQUIRE_SERVICES=1 but " + "; ".join(problems), returncode=3)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Django removes the SQLite test database but not its write-ahead log files."""
    for leftover in BASE_DIR.glob(f"test-db-{os.getpid()}.sqlite3-*"):
        leftover.unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def _close_connection_pools(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Connections held by executor threads must go before the test database is dropped."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for conn in connections.all():
            if hasattr(conn, "close_pool"):
                conn.close_pool()
            if conn.vendor == "postgresql":
                _terminate_other_sessions(conn.settings_dict)


def _terminate_other_sessions(db: dict[str, Any]) -> None:
    import psycopg

    with (
        contextlib.suppress(psycopg.OperationalError),
        psycopg.connect(
            dbname=db["NAME"],
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            autocommit=True,
        ) as admin,
    ):
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


# --- the model --------------------------------------------------------------------------------


def shipped_prompt(key: str) -> str:
    """A prompt as Orion ships it (what the pipeline sends until staff publish another)."""
    return (BASE_DIR / "agents" / "prompts" / f"{key}.txt").read_text(encoding="utf-8").strip()


SIM = SimulatorConfig(port=0, ttft_ms=20, tokens_per_sec=400, reply_tokens=30)


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorThread]:
    with run_in_thread(SIM) as sim:
        yield sim


@pytest.fixture(autouse=True)
def _model(settings: Any, simulator: SimulatorThread) -> None:
    settings.OPENAI_BASE_URL = simulator.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.ORION_MODEL = "orion-sim-1"
    settings.ORION_MODEL_RETRIES = 0
    settings.ORION_MODEL_TIMEOUT = 10.0
    settings.ORION_PRICE_INPUT_PER_1K = 0.5
    settings.ORION_PRICE_OUTPUT_PER_1K = 1.5


@pytest.fixture
async def in_process_tasks_finish() -> AsyncIterator[None]:
    """Tasks a test queued in-process (titles) finish on its loop before that loop ends
    (used by every coroutine test, see ``_coroutine_tests_settle``)."""
    yield
    await tasks_settle(timeout=10)


@pytest.fixture(autouse=True)
def _coroutine_tests_settle(request: pytest.FixtureRequest) -> None:
    if inspect.iscoroutinefunction(getattr(request.node, "function", None)):
        request.getfixturevalue("in_process_tasks_finish")


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    """Rate-limit counters, leases, channel layers and the in-memory knowledge index must
    not leak between tests (a rolled-back test's document ids come round again on SQLite,
    so another test's knowledge base can have the same version)."""
    cache.clear()
    gate().clear()
    channel_layers.backends.clear()
    memory_forget()
    yield
    channel_layers.backends.clear()


# --- people -----------------------------------------------------------------------------------


@pytest.fixture
def alice(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("alice", "alice@example.org", "alice-password")


@pytest.fixture
def alice_client(alice: User) -> Client:
    """A browser signed in as alice."""
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("bob", "bob@example.org", "bob-password")


@pytest.fixture
def staff(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(
        "staff", "staff@example.org", "staff-password", is_staff=True
    )


def _session_cookie(session_key: str) -> bytes:
    cookie: SimpleCookie = SimpleCookie()
    cookie[settings.SESSION_COOKIE_NAME] = session_key
    return cookie.output(header="", sep=";").strip().encode()


def user_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return _session_cookie(client.cookies[settings.SESSION_COOKIE_NAME].value)


def visitor_session(anon_id: str = "visitor-1") -> tuple[Owner, bytes]:
    """A saved anonymous session: the owner it stands for and its cookie."""
    session = SessionStore()
    session[ANON_SESSION_KEY] = anon_id
    session.save()
    return Owner(anon_id=anon_id), _session_cookie(session.session_key or "")


def ws_headers(cookie: bytes | None, origin: str = ORIGIN) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", origin.encode()), (b"host", b"127.0.0.1:8000")]
    if cookie:
        headers.append((b"cookie", cookie))
    return headers


# --- processes started against the test database ---------------------------------------------


def test_database_url() -> str:
    """The URL of the database this test run uses, for processes the suite starts."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(simulator: SimulatorThread, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=test_database_url(),
        OPENAI_BASE_URL=simulator.base_url,
        OPENAI_API_KEY="test-key",
        ORION_MODEL="orion-sim-1",
        ORION_MODEL_RETRIES="0",
        DJANGO_DEBUG="true",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


async def until(condition: Any, seconds: float = 5.0) -> bool:
    """Whether ``condition()`` came true within ``seconds``, looked at every 20 ms."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listened on port {port} within {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """``manage.py serve`` on a free port with ``env`` (Django's async-safety check kept),
    once it listens: the process and its port. Its output goes to pytest."""
    port = free_port()
    env = {name: value for name, value in env.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "serve", "--port", str(port)], cwd=BASE_DIR, env=env
    )
    try:
        wait_for_port(port, process)
    except BaseException:
        stop(process)
        raise
    return process, port


def celery_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A real Celery worker (on the broker ``env`` names), one task at a time."""
    return subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "project",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            settings.CELERY_TASK_DEFAULT_QUEUE,
        ],  # fmt: skip
        cwd=BASE_DIR,
        env=env,
    )


@pytest.fixture
def celery_worker_process(
    transactional_db: None, simulator: SimulatorThread
) -> Iterator[subprocess.Popen[bytes] | None]:
    """A real Celery worker on the broker when REDIS_URL is set; None (in-process) otherwise."""
    if not settings.REDIS_URL:
        yield None
        return
    process = celery_worker(child_env(simulator))
    try:
        from project.celery import app

        deadline = time.monotonic() + 30
        while not app.control.ping(timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not come up")
        yield process
    finally:
        stop(process)
