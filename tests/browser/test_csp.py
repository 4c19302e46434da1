"""The Content-Security-Policy holds on every page: the browser reports no violation."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from tests.browser.test_chat import UI_TIMEOUT, send, start_conversation, wait_for_reply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def violations(page: Page) -> list[str]:
    return list(page.evaluate("window.__csp || []"))


def visit(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    assert violations(page) == [], url


def test_no_page_breaks_the_content_security_policy(
    live_server_url: str, page: Page, staff: Any
) -> None:
    page.add_init_script(WATCH)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security" in m.text else None)
    response = page.goto(live_server_url + "/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy

    start_conversation(page, live_server_url)  # the socket opens under connect-src
    send(page, "Some **markdown** and `code` [sim:tokens=5]")
    wait_for_reply(page)
    assert violations(page) == []

    visit(page, live_server_url + "/login/")
    admin = live_server_url + "/" + settings.ORION_ADMIN_PATH
    visit(page, admin + "login/")
    page.fill("input[name=username]", "staff")
    page.fill("input[name=password]", "staff-password")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible(timeout=UI_TIMEOUT)
    assert violations(page) == []
    staff.is_superuser = True
    staff.save()
    for path in ("", "auth/user/", f"auth/user/{staff.pk}/change/", "chat/conversation/"):
        visit(page, admin + path)
    assert console == []
