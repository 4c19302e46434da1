"""The Content-Security-Policy holds on every page: the browser reports no violation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from playwright.sync_api import Page, Response, expect

from agents.models import Chunk, Document, Prompt, ToolSetting
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
    prompt = Prompt.objects.get(key="chat.system")
    calculator = ToolSetting.objects.get(name="calculator")
    for path in ("", "auth/user/", f"auth/user/{staff.pk}/change/", "chat/conversation/",
                 f"agents/prompt/{prompt.pk}/change/?question=Hi+there",  # a preview streams
                 f"agents/prompt/{prompt.pk}/diff/", "agents/provider/", "agents/rule/",
                 "agents/rule/?sentence=hello", "agents/guardpattern/", "agents/run/",
                 "agents/document/", "agents/document/add/", "agents/toolsetting/",
                 f"agents/toolsetting/{calculator.pk}/change/"):  # fmt: skip
        visit(page, admin + path)
    document = Document.objects.create(title="Guide", body=b"", status="ready", chunk_count=1)
    chunk = Chunk.objects.create(document=document, position=0, heading_path="A", text="Text.")
    visit(page, f"{live_server_url}/knowledge/documents/{document.pk}/?passage={chunk.pk}")
    assert console == []


# The error pages of a server with DEBUG off, as production serves them: (an address, or
# how the page is reached, its status, its heading).
ERROR_PAGES = [
    ("/no/such/page/", 404, "This page does not exist"),
    ("/c/not-a-uuid/", 404, "This page does not exist"),
    ("/c/12345678-1234-1234-1234-1234567890ab/", 404, "This page does not exist"),
    ("bad-host", 400, "Orion could not understand that request"),
    ("csrf", 403, "That form had expired"),
]
POST_WITHOUT_TOKEN = """
const form = document.createElement("form");
form.method = "post";
form.action = "/conversations/new/";
document.body.append(form);
form.submit();
"""


def test_error_pages_with_debug_off_are_styled_and_keep_the_policy(
    live_server_url_debug_off: str, page: Page
) -> None:
    page.add_init_script(WATCH)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security" in m.text else None)
    sheets: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: sheets.append((r.url, r.status)) if r.url.endswith(".css") else None,
    )
    server = live_server_url_debug_off
    for where, status, heading in ERROR_PAGES:
        response: Response | None
        if where == "csrf":  # a form posted with no token, from Orion's own page
            page.goto(server + "/")
            with page.expect_navigation() as navigation:
                page.evaluate(POST_WITHOUT_TOKEN)
            response = navigation.value
        elif where == "bad-host":  # the same server, by a name it does not answer to
            port = urlsplit(server).port
            response = page.goto(f"http://localhost:{port}/")
        else:
            response = page.goto(server + where)
        assert response is not None
        assert response.status == status, where
        page.wait_for_load_state("networkidle")
        assert violations(page) == [], where
        expect(page.locator("main[data-role=error-page] h1")).to_have_text(heading)
        assert "unsafe" not in response.headers["content-security-policy"]
        # Styled: Orion's stylesheet loaded (hashed, as collected) and applies, where a
        # page without it would keep the browser's 8px margin and transparent background.
        assert page.evaluate(
            "[...document.styleSheets].some(s => { try {"
            " return (s.href || '').includes('/static/css/') && s.cssRules.length > 0;"
            " } catch (e) { return false; } })"
        ), where
        body = page.evaluate(
            "(() => { const s = getComputedStyle(document.body);"
            " return [s.marginTop, s.backgroundColor]; })()"
        )
        assert body == ["0px", "rgb(247, 247, 248)"], where
    assert sheets and all(s == 200 and "/static/css/orion." in u for u, s in sheets), sheets
    assert all(not u.endswith("/orion.css") for u, _ in sheets), "not the collected copy"
    assert console == []
