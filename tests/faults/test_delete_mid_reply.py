"""Deleting a conversation while Orion answers in it stops the answer (the model request is
closed: no tokens are paid for nobody)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat.live.generation import reply_stop
from chat.live.hub import hub
from chat.models import Conversation, Message
from tests.chat.test_consumer import connect, send, visitor
from tests.conftest import until

pytestmark = pytest.mark.django_db(transaction=True)


async def test_deleting_a_conversation_mid_reply_closes_its_model_request(simulator: Any) -> None:
    stats = simulator.simulator.stats
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "a long answer please [sim:slow][sim:tokens=400]")
    key = str(conversation.pk)
    assert await until(lambda: key in hub().replies and stats.active_streams > 0, 3.0)
    assert await until(lambda: hub().replies[key].parts != [], 3.0)  # it is streaming
    tokens_before = stats.tokens

    await database_sync_to_async(Conversation.objects.filter(pk=conversation.pk).delete)()
    await reply_stop(conversation_id=key)

    assert await until(lambda: key not in hub().replies and stats.active_streams == 0, 3.0)
    await asyncio.sleep(0.3)
    # 400 tokens would take seconds; the stream ended with a handful more at most.
    assert stats.tokens - tokens_before < 100
    assert not await database_sync_to_async(Message.objects.exists)()
    await ws.disconnect()


async def test_stopping_a_conversation_without_a_reply_does_nothing() -> None:
    _, _, conversation = await visitor()
    await reply_stop(conversation_id=str(conversation.pk))
    assert str(conversation.pk) not in hub().replies
