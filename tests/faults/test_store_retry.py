"""A reply's final write waits for a database that is away: its text is only in memory."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import OperationalError

import chat.live.hub
from chat.live import generation
from chat.models import Message
from chat.services import lease_holder
from tests.chat.test_consumer import connect, frames_until_done, send, visitor

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_final_write_is_tried_again_until_the_database_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = chat.live.hub.messages_finish
    failures = [OperationalError("the database system is shutting down")] * 2

    def finish(**kwargs: Any) -> list[None]:
        if failures:
            raise failures.pop()
        return real(**kwargs)

    monkeypatch.setattr(chat.live.hub, "messages_finish", finish)
    monkeypatch.setattr(generation, "STORE_PAUSES", (0.05, 0.05, 0.05))
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "hello [sim:tokens=5]")
    frames = await frames_until_done(ws)

    assert 'data-status="complete"' in frames[-1]
    assert failures == []
    reply = await database_sync_to_async(Message.objects.get)(role="assistant")
    assert (reply.status, len(reply.content.split())) == ("complete", 5)
    await ws.disconnect()


async def test_a_database_away_for_good_leaves_the_reply_to_the_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def finish(**kwargs: Any) -> list[None]:
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(chat.live.hub, "messages_finish", finish)
    monkeypatch.setattr(generation, "STORE_PAUSES", (0.05,))
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "hello [sim:tokens=5]")
    frames = await frames_until_done(ws)

    # The stored reply stays live, its lease given back, for the sweep to mark interrupted
    # with its last checkpoint: the page shows it as a reload will.
    assert 'data-status="interrupted"' in frames[-1]
    reply = await database_sync_to_async(Message.objects.get)(role="assistant")
    assert reply.is_live
    assert await database_sync_to_async(lease_holder)(conversation.pk) is None
    await ws.disconnect()
