"""A server process's end as the replies see it (in this process): the drain on SIGTERM and
the sweep for replies whose process died. The drills in ``test_server_drills`` do the
same to real server processes."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async

from chat.live.hub import hub
from chat.live.lifecycle import Sweeper, replies_drain
from chat.models import Conversation, Message
from chat.services import lease_acquire, lease_refresh, lease_release, replies_orphaned
from tests.chat.test_consumer import connect, frames_until_done, send, visitor
from tests.conftest import until

pytestmark = pytest.mark.django_db(transaction=True)


async def _streaming(conversation: Conversation) -> None:
    key = str(conversation.pk)
    assert await until(lambda: key in hub().replies and hub().replies[key].parts != [])


def _messages(conversation: Conversation) -> list[tuple[str, str, str]]:
    return list(conversation.messages.order_by("id").values_list("role", "status", "content"))


async def test_a_drain_lets_a_reply_in_progress_finish() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "a short answer [sim:tokens=8][sim:slow]")
    await _streaming(conversation)

    assert await replies_drain(grace=30) == 0
    (user, reply) = await database_sync_to_async(_messages)(conversation)
    assert user == ("user", "complete", "a short answer [sim:tokens=8][sim:slow]")
    assert reply[:2] == ("assistant", "complete") and reply[2]
    await ws.disconnect()


async def test_after_the_grace_a_reply_is_stored_interrupted_with_its_text() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "a long answer [sim:tokens=400][sim:slow]")
    await _streaming(conversation)

    assert await replies_drain(grace=0.5) == 1
    assert str(conversation.pk) not in hub().replies
    (_, reply) = await database_sync_to_async(_messages)(conversation)
    assert reply[:2] == ("assistant", "interrupted")
    assert len(reply[2].split()) >= 2  # what it had said (at 5 tokens a second)
    frames = await frames_until_done(ws)
    assert 'data-status="interrupted"' in frames[-1]
    await ws.disconnect()


async def test_a_second_stop_cuts_the_grace_short() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "a long answer [sim:tokens=400][sim:slow]")
    await _streaming(conversation)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await replies_drain(grace=60, hurry=lambda: loop.time() - started > 0.3) == 1
    assert loop.time() - started < 10
    await ws.disconnect()


async def test_a_draining_server_refuses_sends_and_the_text_stays() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await replies_drain(grace=0)
    await ws.send_to(text_data=json.dumps({"message": "hello?"}))
    frame = await ws.receive_from(timeout=5)
    assert "Orion is restarting" in frame and "send it again" in frame
    assert "data-clear-composer" not in frame
    assert not await database_sync_to_async(Message.objects.exists)()
    await ws.disconnect()


async def test_the_drain_waits_for_a_send_already_taken() -> None:
    h = hub()
    h.sending = 1  # a send read before the signal, not yet stored
    loop = asyncio.get_running_loop()
    loop.call_later(0.2, lambda: setattr(h, "sending", 0))
    started = loop.time()
    assert await replies_drain(grace=5) == 0
    assert 0.15 < loop.time() - started < 4


async def test_a_reply_storing_its_text_is_not_stopped() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "a long answer [sim:tokens=400][sim:slow]")
    await _streaming(conversation)
    live = hub().replies[str(conversation.pk)]
    live.finishing = True  # as once its last token is in: its text is being stored
    live.stop()
    await asyncio.sleep(0.1)
    assert live.task is not None and not live.task.cancelled() and not live.task.done()
    live.finishing = False
    live.stop()
    await frames_until_done(ws)
    await ws.disconnect()


# --- the sweep -----------------------------------------------------------------------------------


def _orphan(conversation: Conversation, status: str = "streaming") -> Message:
    Message.objects.create(conversation=conversation, role="user", content="question?")
    return Message.objects.create(
        conversation=conversation, role="assistant", content="half an ans", status=status
    )


async def test_the_sweep_marks_replies_nobody_generates_and_keeps_their_text() -> None:
    _, _, conversation = await visitor()
    orphan = await database_sync_to_async(_orphan)(conversation)
    _, _, other = await visitor()
    pending = await database_sync_to_async(_orphan)(other, "pending")

    sweeper = Sweeper(patience=0)
    assert await sweeper.sweep() == 2
    for message in (orphan, pending):
        await database_sync_to_async(message.refresh_from_db)()
        assert (message.status, message.error_code) == ("interrupted", "interrupted")
        assert message.done_at is not None
    assert orphan.content == "half an ans"
    assert await sweeper.sweep() == 0


def test_the_sweep_leaves_replies_whose_lease_is_held(visitor_conversation: Conversation) -> None:
    live = _orphan(visitor_conversation)
    assert lease_acquire(visitor_conversation.pk, holder="another-process")
    assert replies_orphaned(generated_here=set()) == []
    live.refresh_from_db()
    assert live.status == "streaming"


def test_the_sweep_leaves_finished_replies(visitor_conversation: Conversation) -> None:
    done = _orphan(visitor_conversation, "complete")
    failed = _orphan(visitor_conversation, "failed")
    assert replies_orphaned(generated_here=set()) == []
    assert {m.status for m in Message.objects.filter(pk__in=[done.pk, failed.pk])} == {
        "complete",
        "failed",
    }


async def test_the_sweep_waits_a_refresh_period_before_marking() -> None:
    _, _, conversation = await visitor()
    orphan = await database_sync_to_async(_orphan)(conversation)
    sweeper = Sweeper(patience=0.3)
    assert await sweeper.sweep() == 0  # a suspect: its process may take its lease again
    await asyncio.sleep(0.35)
    assert await sweeper.sweep() == 1
    await database_sync_to_async(orphan.refresh_from_db)()
    assert orphan.status == "interrupted"


async def test_a_reply_whose_process_takes_its_lease_again_is_not_marked() -> None:
    _, _, conversation = await visitor()
    live = await database_sync_to_async(_orphan)(conversation)
    sweeper = Sweeper(patience=0.3)
    assert await sweeper.sweep() == 0
    # Its process refreshes the lease it lost (Redis came back empty) and takes it again.
    await database_sync_to_async(lease_refresh)(conversation.pk, holder="another-process")
    await asyncio.sleep(0.35)
    assert await sweeper.sweep() == 0
    await database_sync_to_async(live.refresh_from_db)()
    assert live.status == "streaming"


async def test_the_sweep_leaves_this_process_s_own_replies_whatever_their_leases() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "a long answer [sim:tokens=400][sim:slow]")
    await _streaming(conversation)
    await database_sync_to_async(lease_release)(conversation.pk)  # as if Redis lost it
    await database_sync_to_async(Message.objects.filter(role="assistant").update)(
        status="streaming"
    )
    assert await Sweeper(patience=0).sweep() == 0
    hub().replies[str(conversation.pk)].stop()
    await frames_until_done(ws)
    await ws.disconnect()


def test_the_sweep_finds_orphans_behind_a_crowd_of_healthy_replies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chat.owners import Owner
    from chat.services import conversation_create
    from chat.services import replies as replies_module

    monkeypatch.setattr(replies_module, "SWEEP_BATCH", 2)
    healthy = [conversation_create(owner=Owner(anon_id=f"crowd-{i}")) for i in range(5)]
    for conversation in healthy:
        _orphan(conversation)
        assert lease_acquire(conversation.pk, holder="another-process")
    orphan = _orphan(conversation_create(owner=Owner(anon_id="crowd-orphan")))
    assert replies_orphaned(generated_here=set()) == [orphan.pk]


def test_live_replies_have_a_partial_index_for_the_sweep() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, Message._meta.db_table)
    assert "chat_message_live" in indexes


@pytest.fixture
def visitor_conversation() -> Conversation:
    from chat.owners import Owner
    from chat.services import conversation_create

    return conversation_create(owner=Owner(anon_id="sweep-visitor"))
