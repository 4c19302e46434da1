"""Hostile frames on the conversation socket: each gets an error shown in the page, the
socket stays open, nothing is stored, and the log holds no traceback."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.chat.test_consumer import connect, frames_until_done, replies, send, visitor

pytestmark = pytest.mark.django_db(transaction=True)

# (Not "asyncio": a test's loop may be collected during the next test and log about it.)
APP_LOGGERS = {"chat", "agents", "project", "django", "channels", "uvicorn"}
READ = "could not be read"
RETRY = "cannot be retried"
EMPTY = "Type a message before sending."
STORE = "cannot be stored"

HOSTILE_FRAMES = [
    pytest.param('{"message": "hi \\ud800 there"}', STORE, id="lone-surrogate"),
    pytest.param('{"message": "\\udfff"}', STORE, id="lone-low-surrogate"),
    pytest.param("[" * 90_000, READ, id="deep-nesting"),
    pytest.param('{"message": ' + "[" * 5_000 + "]" * 5_000 + "}", READ, id="nested-message"),
    pytest.param('{"action": "retry", "message_id": 1e400}', RETRY, id="retry-overflow"),
    pytest.param('{"action": "retry", "message_id": 1.5}', RETRY, id="retry-float"),
    pytest.param('{"action": "retry", "message_id": true}', RETRY, id="retry-bool"),
    pytest.param('{"action": "retry", "message_id": -3}', RETRY, id="retry-negative"),
    pytest.param('{"action": "retry", "message_id": 99999999999999999999}', RETRY, id="retry-big"),
    pytest.param('{"action": "retry", "message_id": "1; DROP TABLE"}', RETRY, id="retry-sql"),
    pytest.param('{"action": "retry", "message_id": [1]}', RETRY, id="retry-list"),
    pytest.param('{"action": "retry"}', RETRY, id="retry-missing"),
    pytest.param('{"action": ["send"]}', "does not understand", id="action-list"),
    pytest.param(json.dumps({"message": "\u200b\ufeff"}), EMPTY, id="invisible-only"),
    pytest.param(json.dumps({"message": "\u3164\u2800 \u200d"}), EMPTY, id="blank-fillers"),
    pytest.param(json.dumps({"message": "\u202e\u2066"}), EMPTY, id="bidi-only"),
    pytest.param(json.dumps({"message": "\x00\x00"}), EMPTY, id="nul-only"),
    pytest.param(json.dumps({"message": None}), READ, id="message-null"),
    pytest.param(json.dumps({"message": {"text": "hi"}}), READ, id="message-object"),
    pytest.param(json.dumps({"message": True}), READ, id="message-bool"),
    pytest.param(json.dumps({"message": "x" * 1_000_000}), "far too long", id="one-megabyte"),
    pytest.param("null", READ, id="json-null"),
    pytest.param('"just a string"', READ, id="json-string"),
    pytest.param("   ", READ, id="blank-frame"),
    pytest.param("\x00" * 10, READ, id="nul-frame"),
    pytest.param("NaN", READ, id="nan"),
]


async def _still_open_and_answering(ws: Any) -> None:
    await send(ws, "and now a real question")
    frames = await frames_until_done(ws)
    assert any("data-clear-composer" in f for f in frames)
    assert 'data-status="complete"' in frames[-1]


@pytest.mark.parametrize(("raw", "error"), HOSTILE_FRAMES)
async def test_a_hostile_frame_gets_an_error_and_the_socket_stays_open(
    raw: str, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    with caplog.at_level(logging.WARNING):
        await ws.send_to(text_data=raw)
        frame = await ws.receive_from(timeout=5)
    assert 'id="composer-error"' in frame and error in frame, frame
    assert "data-clear-composer" not in frame  # the typed text stays in the composer
    assert await replies(conversation) == []
    ours = [r for r in caplog.records if r.name.split(".")[0] in APP_LOGGERS]
    assert not [r for r in ours if r.levelno >= logging.ERROR or r.exc_info]
    await _still_open_and_answering(ws)
    await ws.disconnect()


async def test_a_binary_frame_gets_an_error_and_the_socket_stays_open() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await ws.send_to(bytes_data=b"\xff\xfe{binary")
    frame = await ws.receive_from(timeout=5)
    assert READ in frame
    await _still_open_and_answering(ws)
    await ws.disconnect()


async def test_unknown_keys_are_ignored() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await ws.send_to(
        text_data=json.dumps({"message": "hello", "HEADERS": {}, "role": "system", "x": [1]})
    )
    frames = await frames_until_done(ws)
    await ws.disconnect()
    user, _ = await replies(conversation)
    assert (user.role, user.content) == ("user", "hello")
    assert 'data-status="complete"' in frames[-1]


async def test_bidi_overrides_are_removed_from_what_is_stored() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "pay \u202eusd 01\u202c now")
    await frames_until_done(ws)
    await ws.disconnect()
    user, _ = await replies(conversation)
    assert user.content == "pay usd 01 now"
