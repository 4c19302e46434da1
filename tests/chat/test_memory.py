"""Memory: the newest turns verbatim within a token budget, older ones by a summary that a
background task writes (through the simulator) and keeps on the conversation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async

from agents.models import Run
from agents.pipeline import model_input, staff_config
from agents.simulator import simulated_reply
from chat.models import Conversation, Message
from chat.selectors import message_histories, message_history
from chat.services import conversation_summary_update
from tests.chat.test_consumer import connect, frames_until_done, send
from tests.conftest import visitor_session

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "word " * 1000  # about 1,250 tokens


def long_conversation(settings: Any, turns: int = 6) -> Conversation:
    settings.ORION_HISTORY_TOKENS = 3000  # room for two of these turns
    conversation = Conversation.objects.create(owner_anon="visitor-1")
    for n in range(turns):
        role = "user" if n % 2 == 0 else "assistant"
        Message.objects.create(conversation=conversation, role=role, content=f"{n}: {LONG}")
    return conversation


def test_the_newest_turns_that_fit_the_budget_go_verbatim(settings: Any) -> None:
    conversation = long_conversation(settings)
    history = message_history(conversation_id=conversation.pk, limit=20)
    assert [t["content"][:2] for t in history] == ["4:", "5:"] and history.truncated
    short = Conversation.objects.create(owner_anon="visitor-1")
    Message.objects.create(conversation=short, role="user", content="hi")
    histories = message_histories(conversation_ids=[conversation.pk, short.pk], limit=20)
    assert not histories[short.pk].truncated and histories[short.pk] == [
        {"role": "user", "content": "hi"}
    ]


def test_the_summary_task_summarises_what_is_left_out_once(settings: Any) -> None:
    conversation = long_conversation(settings)
    summary = conversation_summary_update(conversation_id=conversation.pk)
    conversation.refresh_from_db()
    older = list(conversation.messages.order_by("id"))[:4]
    assert summary and conversation.summary == summary
    assert conversation.summary_through == older[-1].pk
    prompt = staff_config().prompt("chat.summary")
    asked = "\n\n".join(f"{m.role.capitalize()}: {m.content}" for m in older)[-24_000:]
    expected = simulated_reply(
        [{"role": "system", "content": prompt.text}, {"role": "user", "content": asked}], 30
    )
    assert summary == "".join(expected).strip()
    run = Run.objects.get(kind="job")
    assert (run.outcome, run.steps.get().name) == ("complete", "summary") and run.cost > 0
    assert conversation_summary_update(conversation_id=conversation.pk) is None  # all covered
    history = message_history(conversation_id=conversation.pk, limit=20)
    assert history[0] == {"role": "system",
                          "content": f"Summary of the earlier conversation: {summary}"}  # fmt: skip
    assert [t["content"][:2] for t in history[1:]] == ["4:", "5:"]
    assert model_input(history, None)[0]["role"] == "system"


async def test_a_reply_in_a_long_conversation_queues_its_summary(
    settings: Any,
    celery_worker_process: Any,  # in-process, or a real worker with Redis
) -> None:
    conversation = await database_sync_to_async(long_conversation)(settings, 5)
    _, cookie = await database_sync_to_async(visitor_session)()
    ws = await connect(conversation, cookie)
    await send(ws, "And what next?")
    await frames_until_done(ws)
    await ws.disconnect()

    for _ in range(1500):  # the task runs after the reply's last frame
        await conversation.arefresh_from_db()
        if conversation.summary:
            break
        await asyncio.sleep(0.02)
    assert conversation.summary and conversation.summary_through is not None
