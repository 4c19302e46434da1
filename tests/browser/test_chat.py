"""Chatting in a real browser: Debian's Chromium, a real Orion server (uvicorn), the LLM simulator.

Each test drives the page only through its stable hooks (``data-action``, ``data-role``,
``data-status``, ``data-part``, ``#composer``, ``#connection``, ``#composer-error``).
``[sim:...]`` markers in a typed message shape the simulator's reply (see agents.simulator).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from agents.simulator import simulated_reply
from chat.models import Conversation, Message
from tests.conftest import shipped_prompt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONVERSATION_URL = re.compile(r"/c/[0-9a-f-]{36}/$")
UI_TIMEOUT = 10_000  # ms: page loads, socket opens, short replies
REPLY_TIMEOUT = 15_000  # ms: a whole slow ([sim:slow]) reply


# --- what the page shows -----------------------------------------------------------------------


def composer(page: Page) -> Locator:
    return page.locator("form#composer textarea[name=message]")


def messages(page: Page, role: str) -> Locator:
    return page.locator(f"#messages article[data-role={role}]")


def body(message: Locator) -> Locator:
    return message.locator("[data-part=body]")


def start_conversation(page: Page, server: str) -> str:
    """Open the home page, start a conversation, wait for its socket; returns its URL."""
    page.goto(server + "/")
    page.locator("main [data-action=new-conversation]").click()
    expect(page).to_have_url(CONVERSATION_URL, timeout=UI_TIMEOUT)
    expect(page.locator("#connection")).to_have_attribute(
        "data-state", "online", timeout=UI_TIMEOUT
    )
    return page.url


def send(page: Page, text: str) -> None:
    composer(page).fill(text)
    composer(page).press("Enter")


def wait_for_reply(page: Page, status: str = "complete", index: int = -1) -> Locator:
    reply = messages(page, "assistant").nth(index)
    expect(reply).to_have_attribute("data-status", status, timeout=REPLY_TIMEOUT)
    return reply


def expected_reply(question: str) -> str:
    """What the simulator answers to a conversation that opens with ``question``."""
    model_input = [
        {"role": "system", "content": shipped_prompt("chat.system")},
        {"role": "user", "content": question},
    ]
    return "".join(simulated_reply(model_input, int(re.findall(r"tokens=(\d+)", question)[-1])))


def expected_title(question: str) -> str:
    prompt = [
        {"role": "system", "content": shipped_prompt("chat.title")},
        {"role": "user", "content": question},
    ]
    return "".join(simulated_reply(prompt, 20))


# --- the tests -----------------------------------------------------------------------------------


def test_a_question_streams_in_word_by_word_then_survives_a_reload_and_titles_the_chat(
    live_server_url: str,
    celery_worker_process: Any,  # the title is made by a task: a real worker with Redis
    page: Page,
    tmp_path: Path,
) -> None:
    question = "How do lighthouses guide ships at night? [sim:slow][sim:tokens=12]"
    start_conversation(page, live_server_url)
    expect(page.locator("#conversation-title")).to_have_text("New conversation")

    send(page, question)

    expect(body(messages(page, "user"))).to_have_text(question, timeout=UI_TIMEOUT)
    expect(composer(page)).to_have_value("", timeout=UI_TIMEOUT)
    # Sample the reply as it is written (5 tokens a second): its text must grow in steps.
    lengths: list[int] = []
    status = "pending"
    deadline = time.monotonic() + REPLY_TIMEOUT / 1000
    while status != "complete" and time.monotonic() < deadline:
        status, text = page.evaluate(
            """() => {
                const reply = document.querySelector('#messages article[data-role=assistant]');
                if (!reply) return ['missing', ''];
                return [reply.dataset.status, reply.querySelector('[data-part=body]').textContent];
            }"""
        )
        assert status in {"missing", "pending", "streaming", "complete"}, status
        if status == "streaming":
            lengths.append(len(text))
        time.sleep(0.05)
    growth = sum(1 for before, after in zip(lengths, lengths[1:], strict=False) if after > before)
    assert growth >= 2, f"the reply did not visibly grow while streaming: lengths {lengths}"

    reply = wait_for_reply(page)
    answer = expected_reply(question)
    expect(body(reply)).to_have_text(answer)
    expect(reply.locator("[data-action=retry]")).to_have_count(0)

    # After the first exchange a background task names the conversation: the heading and
    # the sidebar entry change live, without a reload.
    title = expected_title(question)
    sidebar_entry = page.locator(f"#conv-{Conversation.objects.get().pk}-title")
    expect(page.locator("#conversation-title")).to_have_text(title, timeout=UI_TIMEOUT)
    expect(sidebar_entry).to_have_text(title)

    page.reload()
    expect(page.locator("#connection")).to_have_attribute(
        "data-state", "online", timeout=UI_TIMEOUT
    )
    expect(messages(page, "user")).to_have_count(1)
    expect(body(messages(page, "user"))).to_have_text(question)
    expect(messages(page, "assistant")).to_have_count(1)
    expect(messages(page, "assistant")).to_have_attribute("data-status", "complete")
    expect(body(messages(page, "assistant"))).to_have_text(answer)
    stored = Message.objects.get(role=Message.Role.ASSISTANT)
    assert (stored.status, stored.content) == (Message.Status.COMPLETE, answer)
    expect(page.locator("#conversation-title")).to_have_text(title)
    expect(sidebar_entry).to_have_text(title)

    page.screenshot(path=tmp_path / "orion-chat.png", full_page=True)
    if os.environ.get("ORION_BROWSER_SCREENSHOT"):  # a copy where a person can look at it
        page.screenshot(path=os.environ["ORION_BROWSER_SCREENSHOT"], full_page=True)


def test_shift_enter_starts_a_new_line_instead_of_sending(live_server_url: str, page: Page) -> None:
    start_conversation(page, live_server_url)
    textarea = composer(page)
    textarea.press_sequentially("first line")
    textarea.press("Shift+Enter")
    textarea.press_sequentially("second line")

    expect(textarea).to_have_value("first line\nsecond line")
    expect(page.locator("#messages article")).to_have_count(0)

    # Enter then sends both lines as one message: nothing went out before.
    textarea.press("Enter")
    expect(messages(page, "user")).to_have_count(1, timeout=UI_TIMEOUT)
    expect(body(messages(page, "user"))).to_have_text("first line\nsecond line")
    assert body(messages(page, "user")).text_content() == "first line\nsecond line"
    wait_for_reply(page)
    expect(messages(page, "user")).to_have_count(1)


def test_a_message_refused_while_orion_is_still_answering_stays_in_the_composer(
    live_server_url: str, page: Page
) -> None:
    start_conversation(page, live_server_url)
    send(page, "Count to fifteen, slowly please [sim:slow][sim:tokens=15]")
    wait_for_reply(page, "streaming")

    send(page, "Are you still there?")

    expect(page.locator("#composer-error")).to_contain_text("still answering", timeout=UI_TIMEOUT)
    expect(composer(page)).to_have_value("Are you still there?")
    expect(messages(page, "user")).to_have_count(1)

    # Once the answer is done, the kept text can simply be sent.
    wait_for_reply(page)
    composer(page).press("Enter")
    expect(messages(page, "user")).to_have_count(2, timeout=UI_TIMEOUT)
    expect(body(messages(page, "user").nth(1))).to_have_text("Are you still there?")
    expect(page.locator("#composer-error")).to_be_empty()
    expect(composer(page)).to_have_value("")
    wait_for_reply(page, index=1)


def test_a_message_over_the_limit_is_refused_with_the_numbers_and_kept(
    live_server_url: str, page: Page
) -> None:
    start_conversation(page, live_server_url)
    too_long = "word " * 1700  # 8,500 characters, pasted whole (the page does not cut it)
    composer(page).focus()
    page.keyboard.insert_text(too_long)  # as a paste: the browser applies any maxlength
    composer(page).press("Enter")

    expect(page.locator("#composer-error")).to_contain_text(
        "the limit is 8,000", timeout=UI_TIMEOUT
    )
    expect(composer(page)).to_have_value(too_long)
    expect(messages(page, "user")).to_have_count(0)
    assert not Message.objects.exists()


def test_renaming_says_what_is_wrong_then_updates_every_place_the_title_shows(
    live_server_url: str, page: Page
) -> None:
    url = start_conversation(page, live_server_url)
    pk = url.rstrip("/").rsplit("/", 1)[1]
    page.locator(".rename summary").click()
    title_input = page.locator(".rename input[name=title]")

    title_input.fill("   ")
    page.locator(".rename button[type=submit]").click()
    expect(page.locator(".rename [role=alert]")).to_have_text(
        "A title cannot be empty.", timeout=UI_TIMEOUT
    )
    expect(page.locator(".rename input[name=title]")).to_have_value("   ")
    expect(page.locator("#conversation-title")).to_have_text("New conversation")

    page.locator(".rename input[name=title]").fill("Trip <b>plans</b>")
    page.locator(".rename button[type=submit]").click()
    expect(page.locator("#conversation-title")).to_have_text(
        "Trip <b>plans</b>", timeout=UI_TIMEOUT
    )
    expect(page.locator(f"#conv-{pk}-title")).to_have_text("Trip <b>plans</b>")
    expect(page).to_have_title("Trip <b>plans</b> · Orion")
    expect(page.locator(".rename [role=alert]")).to_have_count(0)


def test_hostile_markup_in_a_message_is_shown_as_text_and_never_runs(
    live_server_url: str, page: Page
) -> None:
    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
    start_conversation(page, live_server_url)
    send(page, payload)
    wait_for_reply(page)

    for view in ("live", "reloaded"):
        if view == "reloaded":
            page.reload()
            expect(messages(page, "assistant")).to_have_attribute("data-status", "complete")
        expect(body(messages(page, "user"))).to_have_text(payload)
        expect(page.locator("#messages [data-part=body] img")).to_have_count(0)
        expect(page.locator("#messages [data-part=body] script")).to_have_count(0)
        assert page.evaluate("() => typeof window.__pwned") == "undefined", view


def test_a_reply_that_breaks_off_says_why_and_offers_retry(
    live_server_url: str, page: Page
) -> None:
    start_conversation(page, live_server_url)
    send(page, "Tell me a long story [sim:drop=3]")

    reply = wait_for_reply(page, "failed")
    expect(reply.get_by_role("alert")).to_contain_text(
        "The connection to the model broke off before the answer was finished."
    )
    expect(reply.locator("[data-action=retry]")).to_be_visible()
    expect(reply.locator("[data-action=retry]")).to_be_enabled()
    expect(reply.locator("[data-action=retry]")).to_have_text("Retry")

    # Retry answers again in place. The marker makes the new answer break off too, but the
    # page must show the reply start over (pending) before it fails again.
    reply_id = reply.get_attribute("id")
    page.evaluate(
        """(id) => {
            window.__statuses = [];
            new MutationObserver(() => {
                const el = document.getElementById(id);
                const status = el && el.dataset.status;
                if (status && status !== window.__statuses.at(-1)) window.__statuses.push(status);
            }).observe(
                document.getElementById('messages'),
                {subtree: true, childList: true, attributes: true},
            );
        }""",
        reply_id,
    )
    reply.locator("[data-action=retry]").click()
    deadline = time.monotonic() + REPLY_TIMEOUT / 1000
    while page.evaluate("() => window.__statuses.at(-1)") != "failed":
        assert time.monotonic() < deadline, page.evaluate("() => window.__statuses")
        time.sleep(0.05)
    statuses = page.evaluate("() => window.__statuses")
    assert statuses[0] == "pending" and statuses[-1] == "failed", statuses
    expect(messages(page, "assistant")).to_have_count(1)
    # At most the three words again (what came in the coalescing interval before the break
    # goes with the connection), nothing appended twice, as stored.
    shown = body(page.locator(f"#{reply_id}"))
    expect(shown).to_have_text(re.compile(r"^\S+(\s+\S+){0,2}$"))
    (stored,) = Message.objects.filter(role=Message.Role.ASSISTANT)
    expect(shown).to_have_text(stored.content)


def test_a_page_that_loses_its_connection_reconnects_and_catches_up(
    live_server_url: str, page: Page
) -> None:
    # Every socket of the page goes through here, to break one as a network would and to
    # hold the next until the answer has finished without the page.
    sockets: list[Any] = []  # (page side, server side or None), in order

    def route(ws: Any) -> None:
        held = "resume=1" in ws.url
        sockets.append((ws, None if held else ws.connect_to_server()))

    page.route_web_socket(re.compile(r"/ws/conversations/"), route)
    start_conversation(page, live_server_url)
    # (the first token comes late enough for the socket to break before it, on a busy machine)
    question = "Answer while I am away [sim:ttft=2500][sim:tokens=10]"
    send(page, question)
    expect(messages(page, "user")).to_have_count(1, timeout=UI_TIMEOUT)
    expect(messages(page, "assistant")).to_have_attribute("data-status", "pending")
    page_side, server_side = sockets[0]
    server_side.close()
    page_side.close()
    expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")

    # The page reconnects by itself and asks to catch up (held back until the answer has
    # finished without it) ...
    deadline = time.monotonic() + REPLY_TIMEOUT / 1000
    while len(sockets) < 2 or Message.objects.get(role="assistant").status != "complete":
        assert time.monotonic() < deadline, "no reconnection, or the answer never finished"
        page.wait_for_timeout(50)
    assert sockets[1][0].url.endswith("?resume=1")
    expect(messages(page, "assistant")).to_have_attribute("data-status", "pending")
    sockets[1][0].connect_to_server()

    # ... and shows the answer that finished meanwhile: once, complete, with all its text.
    reply = wait_for_reply(page)
    expect(body(reply)).to_have_text(expected_reply(question))
    expect(messages(page, "user")).to_have_count(1)
    expect(messages(page, "assistant")).to_have_count(1)
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")


def test_the_page_says_it_is_connected_and_that_answers_come_from_the_simulator(
    live_server_url: str, page: Page
) -> None:
    start_conversation(page, live_server_url)

    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    expect(page.locator("#connection")).to_have_text("Connected")
    label = page.locator("[data-role=model-status]")
    expect(label).to_be_visible()
    expect(label).to_contain_text("built-in simulator")
    expect(label).to_contain_text("not a real model")


def test_another_visitor_gets_a_404_for_someone_elses_conversation(
    live_server_url: str, page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    url = start_conversation(page, live_server_url)
    send(page, "My secret plan for the weekend [sim:tokens=3]")
    wait_for_reply(page)

    stranger = new_context().new_page()
    response = stranger.goto(url)

    assert response is not None
    assert response.status == 404
    expect(stranger.locator("body")).not_to_contain_text("secret plan")
    expect(stranger.locator("#messages")).to_have_count(0)
    # Nor does the conversation's socket serve them: it is closed with "not yours".
    close_code = stranger.evaluate(
        """(path) => new Promise((resolve) => {
            const socket = new WebSocket(location.origin.replace('http', 'ws') + path);
            socket.onclose = (event) => resolve(event.code);
            setTimeout(() => resolve('timeout'), 5000);
        })""",
        "/ws/conversations/" + url.rstrip("/").rsplit("/", 1)[-1] + "/",
    )
    assert close_code == 4403


def test_a_message_the_page_already_shows_is_not_appended_twice(
    live_server_url: str, page: Page
) -> None:
    start_conversation(page, live_server_url)
    send(page, "Say it once [sim:tokens=5]")
    wait_for_reply(page)
    # The frame announcing an exchange can reach a page that already shows it (rendered
    # or caught up in the moment between the exchange's storing and its announcement).
    page.evaluate(
        """() => {
            const shown = Array.from(document.querySelectorAll('#messages article'));
            const frame = '<div hx-swap-oob="beforeend:#messages" data-new-messages>'
                + shown.map((el) => el.outerHTML).join('')
                + '<article id="msg-999999" data-role="user" data-status="complete">'
                + '<div data-part="body">new</div></article></div>';
            htmx.swap(document.body, frame, {swapStyle: 'none'});
        }"""
    )
    expect(messages(page, "user")).to_have_count(2)
    expect(messages(page, "user").nth(1)).to_have_id("msg-999999")
    expect(messages(page, "assistant")).to_have_count(1)
