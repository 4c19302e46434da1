"""The first moments of a conversation page: a message sent before its socket is open."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chat.models import Message
from tests.browser.test_chat import (
    UI_TIMEOUT,
    composer,
    messages,
    start_conversation,
    wait_for_reply,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAITING = "your message will be sent as soon as the connection opens"


@pytest.mark.parametrize("attempt", range(3))
def test_a_message_sent_as_the_page_opens_goes_out_once_connected(
    live_server_url: str, page: Page, attempt: int
) -> None:
    url = start_conversation(page, live_server_url)
    page.goto(url, wait_until="commit")
    composer(page).fill(f"sent at once {attempt} [sim:tokens=3]")
    composer(page).press("Enter")
    expect(messages(page, "user")).to_have_count(1, timeout=UI_TIMEOUT)
    wait_for_reply(page)
    expect(composer(page)).to_have_value("")


def test_a_message_sent_before_the_page_is_set_up_waits_and_says_so(
    live_server_url: str, page: Page
) -> None:
    url = start_conversation(page, live_server_url)
    # The page's htmx is held back, as on a slow network: no socket yet.
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    page.route("**/django_htmx/**", hold)
    page.goto(url, wait_until="commit")
    composer(page).fill("typed before the page was ready [sim:tokens=3]")
    composer(page).press("Enter")
    expect(page.locator("#composer-error")).to_contain_text(WAITING)
    expect(composer(page)).to_have_value("typed before the page was ready [sim:tokens=3]")
    page.wait_for_timeout(300)
    assert not Message.objects.exists()
    assert "?" not in page.url  # no plain form submission happened

    while not held:
        page.wait_for_timeout(20)
    for route in held:
        route.continue_()
    page.unroute("**/django_htmx/**")
    expect(messages(page, "user")).to_have_count(1, timeout=UI_TIMEOUT)
    wait_for_reply(page)
    expect(composer(page)).to_have_value("")
    expect(page.locator("#composer-error")).to_have_text("")
    assert Message.objects.filter(role="user").count() == 1
