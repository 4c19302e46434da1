"""Browser fixtures: Debian's Chromium driven by Playwright against a real Orion server.

The server is a separate process (WebSockets need a real ASGI server) on a free port,
pointed at this run's test database and the session's LLM simulator through
``child_env``; with ``REDIS_URL`` set it uses channels-redis and the Redis cache too.

Playwright lives for this package only. Its sync API keeps an event loop running in the
main thread for as long as it is started: pytest-playwright's session-scoped ``playwright``
would leave that loop running for every test collected after this package, and each
pytest-asyncio test there would fail with "Cannot run the event loop while another loop is
running" (and Django would refuse their ORM calls). So ``playwright``, ``browser_type``,
``browser`` and ``browser_context_args`` are package-scoped here, and Django's async-safety
check is relaxed only while this package runs.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    BrowserType,
    Page,
    Playwright,
    sync_playwright,
)

from agents.simulator import SimulatorThread
from tests.conftest import BASE_DIR, child_env, serve, stop

ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
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


@pytest.fixture(scope="package", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    """Let the tests (and pytest-django's flush) use the ORM beside Playwright's event loop.

    The documented workaround for Playwright + Django, limited to this package so the rest
    of the suite keeps Django's async-safety check. Never passed on to the server.
    """
    before = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    yield
    if before is None:
        os.environ.pop(ASYNC_UNSAFE, None)
    else:
        os.environ[ASYNC_UNSAFE] = before


# --- the browser: Debian's Chromium only, never one Playwright downloaded -------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"{CHROMIUM} is missing or not executable: the browser tests need Debian's "
            "Chromium (apt-get update && apt-get install -y chromium)",
            pytrace=False,
        )
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return getattr(playwright, browser_name)


@pytest.fixture(scope="package")
def browser(
    browser_type: BrowserType, browser_type_launch_args: dict[str, Any]
) -> Iterator[Browser]:
    browser = browser_type.launch(**browser_type_launch_args)
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def browser_context_args() -> dict[str, Any]:
    return {}


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """pytest-playwright's page, failing the test on any uncaught JavaScript error."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"uncaught JavaScript errors on the page: {errors}"


# --- the server ----------------------------------------------------------------------------------


@pytest.fixture
def live_server_url(transactional_db: None, simulator: SimulatorThread) -> Iterator[str]:
    """An Orion server (`manage.py serve`) for this test alone, on the test database; its
    output goes to pytest."""
    process, port = serve(
        child_env(simulator, DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost", DJANGO_DEBUG="true")
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


# --- the server as production runs it: DEBUG off ---------------------------------------------

DEBUG_OFF_SETTINGS = "orion_debug_off_settings"


@pytest.fixture(scope="session")
def debug_off_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What a server with DEBUG off needs, as ``make run`` provides it: a secret key and the
    static files collected (hashed and compressed, served by WhiteNoise).

    ``make run`` collects them into the checkout's STATIC_ROOT, which the settings fix and
    no variable moves; here they go to a folder of this run, through a settings module that
    is the project's own with only STATIC_ROOT changed.
    """
    folder = tmp_path_factory.mktemp("debug-off")
    static_root = folder / "static"
    module = ["from project.settings import *  # noqa: F403", f"STATIC_ROOT = {str(static_root)!r}"]
    (folder / f"{DEBUG_OFF_SETTINGS}.py").write_text("\n".join(module) + "\n")
    env = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SETTINGS_MODULE": DEBUG_OFF_SETTINGS,
        "PYTHONPATH": os.pathsep.join([str(folder), str(BASE_DIR)]),
    }
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=BASE_DIR,
        env={**os.environ, **env},
        check=True,
    )
    assert (static_root / "staticfiles.json").is_file()
    return env


@pytest.fixture
def live_server_url_debug_off(
    transactional_db: None, simulator: SimulatorThread, debug_off_env: dict[str, str]
) -> Iterator[str]:
    """Like ``live_server_url``, with DEBUG off: Orion's own error pages and collected
    static files. It answers to 127.0.0.1 only (``localhost`` is a host it does not serve)."""
    process, port = serve(child_env(simulator, DJANGO_ALLOWED_HOSTS="127.0.0.1", **debug_off_env))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
