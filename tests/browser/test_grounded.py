"""Grounded answers in a real browser: staff upload a document in the admin, a visitor
asks, the answer cites it, and the source link opens the passage."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from agents.models import Document
from tests.browser.test_chat import UI_TIMEOUT, body, send, start_conversation, wait_for_reply
from tests.browser.test_staff_prompts import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HANDBOOK = """# Travel handbook

## Booking trains

Book every train through the travel desk at least five days ahead. Keep the receipt.

## Hotel allowance

The hotel allowance is 140 euros a night in capitals and 110 elsewhere.
"""


def test_an_uploaded_document_grounds_the_answer_and_its_source_opens_the_passage(
    live_server_url: str, page: Page, staff: Any, celery_worker_process: Any, tmp_path: Path
) -> None:
    staff.is_superuser = True
    staff.save()
    admin = f"{live_server_url}/{settings.ORION_ADMIN_PATH}"
    log_in(page, admin)
    handbook = tmp_path / "travel-handbook.md"
    handbook.write_text(HANDBOOK)
    page.goto(f"{admin}agents/document/add/")
    page.set_input_files("input[name=upload]", str(handbook))
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("added successfully")
    deadline = time.monotonic() + 30
    while Document.objects.get().status != "ready":
        assert time.monotonic() < deadline, "the document was not ingested"
        time.sleep(0.2)

    chat = page.context.browser.new_context().new_page()  # type: ignore[union-attr]  # a visitor
    start_conversation(chat, live_server_url)
    send(chat, "What is the hotel allowance in capitals?")
    reply = wait_for_reply(chat)
    expect(body(reply)).to_contain_text("According to the knowledge base [1]: The hotel allowance")
    source = reply.locator("[data-part=sources] a[data-source='1']")
    expect(source).to_have_text("[1] Travel handbook › Hotel allowance", timeout=UI_TIMEOUT)
    cite = body(reply).locator("a.cite[data-cite='1']")  # the [1] in the text links there too
    expect(cite).to_have_attribute("href", source.get_attribute("href") or "-")
    source.click()
    cited = chat.locator("[data-cited]")
    expect(cited).to_contain_text("140 euros a night", timeout=UI_TIMEOUT)
    expect(cited).to_be_in_viewport()
    expect(chat.locator("h1")).to_have_text("Travel handbook")  # (its first heading)
