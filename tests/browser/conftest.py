"""Browser fixtures: Debian's Chromium driven by Playwright against a real Daphne server.

The server is a separate process (WebSockets need a real ASGI server) on a free port,
pointed at this run's test database and the session's LLM simulator through
``child_env``; with ``REDIS_URL`` set it uses channels-redis and the Redis cache too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from agents.simulator import SimulatorThread
from tests.conftest import BASE_DIR, child_env, free_port, stop, wait_for_port

# pytest-playwright's sync API keeps an event loop running in the main thread, so Django
# would refuse ORM calls made by the test itself (SynchronousOnlyOperation). This is the
# documented workaround for Playwright + Django; it is not passed on to the server.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps dialing out, and the closed network refuses it.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium only: never a browser Playwright downloaded."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get update && apt-get install -y chromium)",
            pytrace=False,
        )
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture
def live_server_url(transactional_db: None, simulator: SimulatorThread) -> Iterator[str]:
    """A Daphne server for this test alone, on the test database; its output goes to pytest."""
    port = free_port()
    env = child_env(
        simulator,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_DEBUG="true",
        # Every browser test talks from 127.0.0.1: the per-IP limit is not under test here.
        ORION_RATE_LIMIT="1000/m",
    )
    # The server must keep Django's async-safety checks.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "project.asgi:application",
        ],
        cwd=BASE_DIR,
        env=env,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """pytest-playwright's page, failing the test on any uncaught JavaScript error."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"uncaught JavaScript errors on the page: {errors}"
