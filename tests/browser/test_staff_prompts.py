"""Staff change what Orion says from the admin, in a real browser: a draft previewed live,
published, seen in the next chat reply; rolled back, and the next reply is as before."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from agents.models import Prompt, Run
from tests.browser.test_chat import (
    REPLY_TIMEOUT,
    UI_TIMEOUT,
    body,
    expected_reply,
    send,
    start_conversation,
    wait_for_reply,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OPENING = "Ahoy from the new prompt."


def log_in(page: Page, admin: str) -> None:
    page.goto(admin + "login/")
    page.fill("input[name=username]", "staff")
    page.fill("input[name=password]", "staff-password")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible(timeout=UI_TIMEOUT)


def test_a_published_prompt_shows_in_the_next_reply_and_a_rollback_undoes_it(
    live_server_url: str, page: Page, staff: Any
) -> None:
    staff.is_superuser = True
    staff.save()
    admin = f"{live_server_url}/{settings.ORION_ADMIN_PATH}"
    prompt = Prompt.objects.get(key="chat.system")
    log_in(page, admin)

    page.goto(f"{admin}agents/prompt/{prompt.pk}/change/")
    text = page.locator("textarea[name=text]")
    shipped = text.input_value()
    text.fill(f"Always begin your answer with: {OPENING}\n{shipped}")
    page.fill("input[name=note]", "a warmer welcome")
    page.fill("input[name=question]", "What is a lighthouse? [sim:tokens=6]")
    page.click("input[name=_preview]")

    columns = page.locator("[data-preview]")
    expect(columns).to_have_count(2, timeout=UI_TIMEOUT)
    draft, published = columns.nth(0), columns.nth(1)
    for column in (draft, published):
        status = column.locator("[data-part=status]")
        expect(status).to_contain_text("Answered by", timeout=REPLY_TIMEOUT)
    expect(draft.locator("[data-part=text]")).to_contain_text(OPENING)
    expect(published.locator("[data-part=text]")).not_to_contain_text(OPENING)
    expect(page.locator("[data-part=diff] ins").first).to_contain_text(OPENING)
    assert Run.objects.filter(kind="preview").count() == 2

    page.click("input[name=_publish]")
    expect(page.locator(".messagelist")).to_contain_text("Published chat.system v2.")

    chat = page.context.new_page()
    start_conversation(chat, live_server_url)
    question = "How do tides work? [sim:tokens=8]"
    send(chat, question)
    expect(body(wait_for_reply(chat))).to_contain_text(OPENING)

    page.reload()
    page.locator("#version-1 [data-action=rollback]").click()
    expect(page.locator(".messagelist")).to_contain_text("Rolled back to chat.system v1")

    start_conversation(chat, live_server_url)
    send(chat, question)  # the same question: v2's cached answer must not be served
    reply = body(wait_for_reply(chat))
    expect(reply).to_have_text(expected_reply(question))
    expect(reply).not_to_contain_text(OPENING)
