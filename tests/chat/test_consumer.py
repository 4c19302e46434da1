"""The conversation socket, driven through the full ASGI application (origin, session, routing)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from agents.simulator import simulated_reply
from chat.live.frames import group_name
from chat.live.hub import hub
from chat.models import Conversation, Message
from chat.owners import Owner
from chat.services import conversation_create
from project.asgi import application
from tests.conftest import shipped_prompt, user_cookie, visitor_session, ws_headers

pytestmark = pytest.mark.django_db(transaction=True)

STATUS = re.compile(r'class="message assistant"[^>]*data-status="(\w+)"')


def expected_text(history: list[dict[str, str]], n: int = 30) -> str:
    messages = [{"role": "system", "content": shipped_prompt("chat.system")}, *history]
    return "".join(simulated_reply(messages, n))


def body_text(frame: str) -> str:
    """The text a frame adds to (or sets on) a reply body, unescaped."""
    import html

    match = re.search(r'data-part="body"[^>]*>(.*?)</div>', frame, re.S)
    if match is None:
        match = re.search(r'beforeend:#msg-\d+-body">(.*?)</div>', frame, re.S)
    assert match is not None, frame
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip("\n")


async def connect(
    conversation: Conversation, cookie: bytes | None, **kw: Any
) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.pk}/", headers=ws_headers(cookie, **kw)
    )
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def send(communicator: WebsocketCommunicator, text: str) -> None:
    await communicator.send_to(text_data=json.dumps({"message": text, "HEADERS": {}}))


async def frames_until_done(communicator: WebsocketCommunicator, timeout: float = 10) -> list[str]:
    """Frames up to and including the one that ends the reply."""
    frames = []
    while True:
        frame = await communicator.receive_from(timeout=timeout)
        frames.append(frame)
        status = STATUS.search(frame)
        if status and status.group(1) in {"complete", "failed", "interrupted"}:
            return frames


async def stop_replies() -> None:
    """Stop the replies still running and wait until they have stored what they had (a
    reply left to store while the test's tables are flushed deadlocks the flush)."""
    tasks = list(hub().tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def new_conversation(owner: Owner) -> Conversation:
    return await database_sync_to_async(conversation_create)(owner=owner)


async def visitor() -> tuple[Owner, bytes, Conversation]:
    owner, cookie = await database_sync_to_async(visitor_session)()
    return owner, cookie, await new_conversation(owner)


async def replies(conversation: Conversation) -> list[Message]:
    return [m async for m in Message.objects.filter(conversation=conversation).order_by("id")]


async def test_a_reply_streams_first_token_then_deltas_then_markdown() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "Tell me about <script>alert(1)</script> islands")
    frames = await frames_until_done(ws)
    await ws.disconnect()

    # The model request goes out before the exchange is rendered, so the "accepted" frame
    # for this page and the exchange for every page may come in either order.
    first_two, (first, *deltas, final) = frames[:2], frames[2:]
    accepted = next(f for f in first_two if "data-clear-composer" in f)
    exchange = next(f for f in first_two if f is not accepted)
    assert 'data-role="user"' in exchange and 'data-status="pending"' in exchange
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in exchange and "<script>" not in exchange
    assert "data-clear-composer" in accepted
    assert 'data-status="streaming"' in first
    assert all('hx-swap-oob="beforeend:#msg-' in d for d in deltas)
    assert 'data-status="complete"' in final
    streamed = body_text(first) + "".join(body_text(d) for d in deltas)
    expected = expected_text(
        [{"role": "user", "content": "Tell me about <script>alert(1)</script> islands"}]
    )
    # Text still waiting to be coalesced when the stream ends rides in the final swap.
    assert expected.startswith(streamed) and len(streamed) > len(expected) / 2
    assert body_text(final) == expected

    user, reply = await replies(conversation)
    assert (user.role, user.status) == ("user", "complete")
    assert reply.status == "complete" and reply.content == expected
    assert (reply.tokens_out, reply.provider, reply.model) == (
        30,
        "openai-compatible",
        "orion-sim-1",
    )
    assert reply.tokens_in and reply.cost and reply.cost > 0
    assert reply.first_token_at is not None and reply.done_at is not None
    assert reply.created_at <= reply.first_token_at <= reply.done_at


async def test_another_owner_is_closed_with_4403(alice: Any, bob: Any) -> None:
    conversation = await new_conversation(Owner(user_id=alice.pk))
    cookie = await database_sync_to_async(user_cookie)(bob)
    ws = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.pk}/", headers=ws_headers(cookie)
    )
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_output(timeout=3)) == {"type": "websocket.close", "code": 4403}


async def test_a_socket_without_session_is_closed_with_4403() -> None:
    _, _, conversation = await visitor()
    ws = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.pk}/", headers=ws_headers(None)
    )
    await ws.connect()
    assert (await ws.receive_output(timeout=3))["code"] == 4403


@pytest.mark.parametrize(
    "failure",
    [OperationalError("the database system is starting up"), RedisConnectionError("refused")],
    ids=["database-away", "redis-away"],
)
async def test_a_socket_that_cannot_attach_for_now_is_closed_with_1013(
    monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    """1013 ("try again later"): the page reconnects by itself, without a traceback here."""
    from chat.live import sockets

    def away(**kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(sockets, "conversation_connect", away)
    _, cookie, conversation = await visitor()
    ws = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.pk}/", headers=ws_headers(cookie)
    )
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_output(timeout=3)) == {"type": "websocket.close", "code": 1013}


async def test_a_foreign_origin_is_refused() -> None:
    _, cookie, conversation = await visitor()
    ws = WebsocketCommunicator(
        application,
        f"/ws/conversations/{conversation.pk}/",
        headers=ws_headers(cookie, origin="https://evil.example"),
    )
    connected, _ = await ws.connect()
    assert not connected


async def test_a_logged_in_owner_can_chat(alice: Any) -> None:
    conversation = await new_conversation(Owner(user_id=alice.pk))
    ws = await connect(conversation, await database_sync_to_async(user_cookie)(alice))
    await send(ws, "hello")
    frames = await frames_until_done(ws)
    await ws.disconnect()
    assert 'data-status="complete"' in frames[-1]


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (json.dumps({"message": "   "}), "Type a message before sending."),
        (json.dumps({"message": "x" * 8001}), "the limit is 8,000"),
        ("{not json", "could not be read"),
        (json.dumps(["a", "list"]), "could not be read"),
        (json.dumps({"message": 42}), "could not be read"),
        (json.dumps({"action": "explode"}), "does not understand"),
    ],
)
async def test_bad_frames_get_a_clear_error_and_store_nothing(raw: str, error: str) -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await ws.send_to(text_data=raw)
    frame = await ws.receive_from(timeout=3)
    await ws.disconnect()
    assert 'id="composer-error"' in frame and error in frame
    assert "data-clear-composer" not in frame
    assert await replies(conversation) == []


async def test_sending_too_fast_is_refused_with_when_to_retry(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "2/h"
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    for _ in range(2):
        await send(ws, "hi")
        await frames_until_done(ws)
        await ws.receive_nothing(0.05)
    await send(ws, "one too many")
    frame = await ws.receive_from(timeout=3)
    await ws.disconnect()
    assert re.search(r"too fast\. Try again in \d+ (seconds?|minutes)\.", frame)
    assert len(await replies(conversation)) == 4


async def test_the_limit_is_shared_by_every_socket_from_one_address(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "1/h"
    sockets = []
    for n in range(2):
        owner, cookie = await database_sync_to_async(visitor_session)(f"visitor-{n}")
        sockets.append(await connect(await new_conversation(owner), cookie))
    await send(sockets[0], "first")
    await frames_until_done(sockets[0])
    await send(sockets[1], "second, other visitor, same address")
    frame = await sockets[1].receive_from(timeout=3)
    for ws in sockets:
        await ws.disconnect()
    assert "too fast" in frame


async def test_a_second_send_while_answering_is_refused_and_nothing_is_lost() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "take your time [sim:tokens=40] [sim:slow]")
    await ws.receive_from(timeout=3)  # the exchange and "accepted", in either order
    await ws.receive_from(timeout=3)
    await send(ws, "are you there?")
    frame = await ws.receive_from(timeout=3)
    while "composer-error" not in frame:
        frame = await ws.receive_from(timeout=3)
    assert "still answering" in frame
    assert "data-clear-composer" not in frame
    await ws.disconnect()
    messages = await replies(conversation)
    assert [m.content for m in messages if m.role == "user"] == [
        "take your time [sim:tokens=40] [sim:slow]"
    ]
    await stop_replies()


async def test_the_reply_finishes_after_the_page_goes_away() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "finish without me")
    await ws.receive_from(timeout=3)
    await ws.disconnect()
    for _ in range(100):
        reply = (await replies(conversation))[-1]
        if reply.status == "complete":
            break
        await asyncio.sleep(0.05)
    assert reply.status == "complete"
    assert reply.content == expected_text([{"role": "user", "content": "finish without me"}])


async def test_a_page_that_reconnects_gets_the_text_so_far_then_live_deltas() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    text = "resume me [sim:tokens=30] [sim:slow]"  # 5 tokens/s: six seconds in all
    await send(ws, text)
    frame = ""
    while 'data-status="streaming"' not in frame:
        frame = await ws.receive_from(timeout=5)
    await ws.receive_from(timeout=5)  # at least one delta more
    await ws.disconnect()

    second = await connect(conversation, cookie)
    snapshot = await second.receive_from(timeout=3)
    assert 'data-status="streaming"' in snapshot
    so_far = body_text(snapshot)
    assert len(so_far.split()) >= 2
    nxt = await second.receive_from(timeout=3)
    assert "beforeend:#msg-" in nxt
    expected = expected_text([{"role": "user", "content": text}])
    assert expected.startswith(so_far + body_text(nxt))
    await stop_replies()
    await second.disconnect()


async def resume(conversation: Conversation, cookie: bytes) -> WebsocketCommunicator:
    """A page reconnecting after a lost connection (the page adds ``resume=1``)."""
    communicator = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.pk}/?resume=1", headers=ws_headers(cookie)
    )
    connected, _ = await communicator.connect()
    assert connected
    return communicator


def shown_messages(snapshot: str) -> list[tuple[str, str, str]]:
    """(id, role, status) of every message a snapshot frame shows, in order."""
    return re.findall(
        r'<article id="msg-(\d+)"[^>]*data-role="(\w+)"\s+data-status="(\w+)"', snapshot
    )


async def test_a_page_that_resumes_catches_up_on_what_it_missed() -> None:
    _, cookie, conversation = await visitor()
    away = await connect(conversation, cookie)
    await send(away, "sent before the connection broke")
    await away.receive_from(timeout=3)
    await away.disconnect()  # the reply finishes while this page is away
    for _ in range(200):
        if (await replies(conversation))[-1].status == "complete":
            break
        await asyncio.sleep(0.05)
    other_tab = await connect(conversation, cookie)
    await send(other_tab, "sent from another tab")
    await frames_until_done(other_tab)
    await other_tab.disconnect()

    back = await resume(conversation, cookie)
    snapshot = await back.receive_from(timeout=3)
    await back.disconnect()
    stored = await replies(conversation)
    assert len(stored) == 4
    assert shown_messages(snapshot) == [(str(m.pk), m.role, "complete") for m in stored]
    assert 'id="messages"' in snapshot and 'hx-swap-oob="innerHTML"' in snapshot
    assert "sent from another tab" in snapshot
    assert 'id="conversation-title" hx-swap-oob="true"' in snapshot


async def test_a_page_that_resumes_mid_reply_gets_every_message_then_live_deltas() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    text = "resume me whole [sim:tokens=30] [sim:slow]"
    await send(ws, text)
    frame = ""
    while 'data-status="streaming"' not in frame:
        frame = await ws.receive_from(timeout=5)
    await ws.disconnect()

    back = await resume(conversation, cookie)
    snapshot = await back.receive_from(timeout=3)
    shown = shown_messages(snapshot)
    assert [(role, status) for _, role, status in shown] == [
        ("user", "complete"),
        ("assistant", "streaming"),
    ]
    so_far = body_text(snapshot.split(f'id="msg-{shown[1][0]}"')[1])
    nxt = await back.receive_from(timeout=3)
    assert f"beforeend:#msg-{shown[1][0]}-body" in nxt
    expected = expected_text([{"role": "user", "content": text}])
    assert so_far and expected.startswith(so_far + body_text(nxt))
    await stop_replies()
    await back.disconnect()


async def test_a_reply_this_process_is_about_to_start_is_not_taken_for_dead() -> None:
    from chat.services import lease_acquire, lease_release

    _, cookie, conversation = await visitor()
    await Message.objects.acreate(conversation=conversation, role="user", content="hi")
    pending = await Message.objects.acreate(
        conversation=conversation, role="assistant", status="pending"
    )
    # Stored and leased here, its generation not started yet (the moment between the two).
    assert await database_sync_to_async(lease_acquire)(conversation.pk)
    try:
        ws = await connect(conversation, cookie)
        frame = await ws.receive_from(timeout=3)
        await ws.disconnect()
    finally:
        await database_sync_to_async(lease_release)(conversation.pk)
    assert f'id="msg-{pending.pk}"' in frame and 'data-status="pending"' in frame
    await pending.arefresh_from_db()
    assert pending.status == "pending"


async def test_a_second_tab_sees_the_exchange_and_the_reply() -> None:
    _, cookie, conversation = await visitor()
    first = await connect(conversation, cookie)
    second = await connect(conversation, cookie)
    await attached(second)  # (on a busy machine it could still be attaching after the send)
    await send(first, "two tabs")
    mine = await frames_until_done(first)
    theirs = await frames_until_done(second)
    await first.disconnect()
    await second.disconnect()
    assert 'data-role="user"' in theirs[0]
    assert not any("data-clear-composer" in f for f in theirs)  # their draft is theirs
    assert body_text(theirs[-1]) == body_text(mine[-1])


async def test_deltas_are_coalesced(settings: Any) -> None:
    async def delta_count(interval_ms: int, text: str) -> int:
        settings.ORION_STREAM_COALESCE_MS = interval_ms
        _, cookie, conversation = await visitor()
        ws = await connect(conversation, cookie)
        await send(ws, text)
        frames = await frames_until_done(ws)
        await ws.disconnect()
        return sum("beforeend:#msg-" in f for f in frames)

    # Six tokens 200 ms apart: without coalescing, each after the first is a frame.
    assert await delta_count(0, "slowly [sim:tokens=6] [sim:slow]") == 5
    # Sixty tokens within 150 ms, coalesced per second: the rest rides in the final frame.
    assert await delta_count(1000, "quickly [sim:tokens=60]") <= 1


async def test_a_failed_stream_keeps_its_text_and_offers_retry() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "break off [sim:drop=5]")
    final = (await frames_until_done(ws))[-1]
    await ws.disconnect()
    assert 'data-status="failed"' in final
    assert "broke off before the answer was finished" in final
    assert 'data-action="retry"' in final
    assert "Traceback" not in final and "RemoteProtocolError" not in final
    reply = (await replies(conversation))[-1]
    assert (reply.status, reply.error_code) == ("failed", "dropped")
    # The text read before the break is kept (what arrived in the coalescing interval
    # just before it goes with the broken connection).
    expected = expected_text([{"role": "user", "content": "break off [sim:drop=5]"}], 5)
    assert reply.content and expected.startswith(reply.content)
    assert body_text(final) == reply.content


async def test_retry_answers_again_in_place(settings: Any, simulator: Any) -> None:
    from tests.conftest import free_port

    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "retry me")
    final = (await frames_until_done(ws))[-1]
    assert "could not be reached" in final
    reply = (await replies(conversation))[-1]

    settings.OPENAI_BASE_URL = simulator.base_url
    await ws.send_to(text_data=json.dumps({"action": "retry", "message_id": str(reply.pk)}))
    frames = await frames_until_done(ws)
    await ws.disconnect()
    reset = next(f for f in frames[:2] if f'id="msg-{reply.pk}"' in f)
    assert 'data-status="pending"' in reset
    assert 'data-status="complete"' in frames[-1]
    messages = await replies(conversation)
    assert len(messages) == 2 and messages[-1].content == expected_text(
        [{"role": "user", "content": "retry me"}]
    )


async def test_a_reply_whose_server_died_is_shown_interrupted_to_a_page_that_opens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At once with one server process; with shared leases once the sweep has marked it
    (its lease may only have been lost with a Redis restart)."""
    from chat.live import sockets
    from chat.live.lifecycle import Sweeper

    monkeypatch.setattr(sockets, "REMOTE_CHECK_SECONDS", 0.05)
    _, cookie, conversation = await visitor()
    await Message.objects.acreate(conversation=conversation, role="user", content="hi")
    orphan = await Message.objects.acreate(
        conversation=conversation, role="assistant", status="streaming", content="Half an"
    )
    ws = await connect(conversation, cookie)
    await Sweeper(patience=0).sweep()
    frame = await ws.receive_from(timeout=3)
    await ws.disconnect()
    assert 'data-status="interrupted"' in frame and "Half an" in frame
    await orphan.arefresh_from_db()
    assert orphan.status == "interrupted"


async def test_a_reply_writes_twice_plus_sparse_checkpoints(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One write stores the exchange, one finishes the reply; in between, a checkpoint of
    the text so far every ``ORION_CHECKPOINT_SECONDS``, never one per token."""
    writes: list[str] = []
    h = hub()

    def counting(name: str, submit: Any) -> Any:
        async def call(item: Any) -> Any:
            writes.append(name)
            return await submit(item)

        return call

    for name in ("sends", "checkpoints", "finishes"):
        batcher = getattr(h, name)
        monkeypatch.setattr(batcher, "submit", counting(name, batcher.submit))
    settings.ORION_CHECKPOINT_SECONDS = 0.05
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "checkpoint me [sim:tokens=80] [sim:ttft=10]")  # ~200 ms at 400 tokens/s
    await frames_until_done(ws)
    await ws.disconnect()
    assert writes[0] == "sends" and writes[-1] == "finishes"
    assert writes.count("sends") == 1 and writes.count("finishes") == 1
    assert 1 <= writes.count("checkpoints") <= 8, writes  # 80 tokens: far fewer than one each
    assert (await replies(conversation))[-1].content == expected_text(
        [{"role": "user", "content": "checkpoint me [sim:tokens=80] [sim:ttft=10]"}], 80
    )


async def test_the_first_exchange_titles_the_conversation_live(celery_worker_process: Any) -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "planning a trip to the mountains")
    await frames_until_done(ws)
    frame = await ws.receive_from(timeout=15)
    while "conversation-title" not in frame:
        frame = await ws.receive_from(timeout=15)
    await ws.disconnect()
    await conversation.arefresh_from_db()
    assert conversation.title
    assert f">{conversation.title}</h1>" in frame


async def test_a_page_in_another_process_is_told_and_then_fed_the_reply(settings: Any) -> None:
    """What a socket served by another server process sees, through the channel layer."""
    from channels.layers import get_channel_layer

    settings.ORION_SHARED_STREAMS = True  # on by default with Redis; forced for the in-memory run
    _, cookie, conversation = await visitor()
    layer = get_channel_layer()
    elsewhere = await layer.new_channel()  # stands for a socket in another process
    await layer.group_add(group_name(conversation.pk), elsewhere)
    ws = await connect(conversation, cookie)
    text = "seen from afar [sim:tokens=20] [sim:slow]"
    await send(ws, text)

    started = await asyncio.wait_for(layer.receive(elsewhere), 5)
    assert started["type"] == "reply.started" and 'data-role="user"' in started["html"]
    await layer.group_send(
        group_name(conversation.pk),
        {"type": "stream.watch", "conversation": str(conversation.pk), "reply_channel": elsewhere},
    )
    frames: list[dict[str, Any]] = []
    while not frames or not frames[-1]["final"]:
        event = await asyncio.wait_for(layer.receive(elsewhere), 10)
        if event["type"] == "reply.frame":  # (not its own stream.watch, echoed to the group)
            frames.append(event)
    mine = await frames_until_done(ws)
    await ws.disconnect()
    so_far, *rest = (f["html"] for f in frames)
    assert 'data-status="streaming"' in so_far and body_text(so_far)
    assert any("beforeend:#msg-" in f for f in rest)  # then the live deltas
    expected = expected_text([{"role": "user", "content": text}], 20)
    assert body_text(frames[-1]["html"]) == expected == body_text(mine[-1])
    assert expected.startswith(body_text(so_far) + "".join(body_text(f) for f in rest[:-1]))


async def _reply_elsewhere(
    settings: Any, status: str = "pending", content: str = ""
) -> tuple[bytes, Conversation, Message]:
    """A visitor's conversation whose reply another server process holds the lease for."""
    from chat.services import lease_acquire

    settings.ORION_SHARED_STREAMS = True  # on by default with Redis; forced for the in-memory run
    _, cookie, conversation = await visitor()
    await Message.objects.acreate(conversation=conversation, role="user", content="hi")
    reply = await Message.objects.acreate(
        conversation=conversation, role="assistant", status=status, content=content
    )
    assert await database_sync_to_async(lease_acquire)(
        conversation.pk, holder="another-server-process"
    )
    return cookie, conversation, reply


async def test_a_page_opened_during_a_reply_elsewhere_asks_to_watch_it_and_shows_its_frames(
    settings: Any,
) -> None:
    from channels.layers import get_channel_layer

    cookie, conversation, reply = await _reply_elsewhere(settings, "streaming", "Half")
    layer = get_channel_layer()
    generator = await layer.new_channel()  # stands for the process generating the reply
    await layer.group_add(group_name(conversation.pk), generator)
    ws = await connect(conversation, cookie)
    watch = await asyncio.wait_for(layer.receive(generator), 5)
    assert watch["type"] == "stream.watch" and watch["conversation"] == str(conversation.pk)
    for html, final in [("so far", False), ("more", False), ("the end", True)]:
        await layer.send(
            watch["reply_channel"],
            {"type": "reply.frame", "reply": reply.pk, "final": final, "html": html},
        )
    received = [await ws.receive_from(timeout=5) for _ in range(3)]
    await ws.disconnect()
    assert received == ["so far", "more", "the end"]
    with pytest.raises(TimeoutError):  # having seen the end, it has nothing to unwatch
        await asyncio.wait_for(layer.receive(generator), 0.3)


async def test_a_page_opened_during_a_reply_elsewhere_shows_its_exchange_once(
    settings: Any,
) -> None:
    """It watches that reply from the start; the reply's later announcement adds nothing."""
    from channels.layers import get_channel_layer

    from chat.services import lease_release

    cookie, conversation, pending = await _reply_elsewhere(settings)
    layer = get_channel_layer()
    ws = await connect(conversation, cookie)
    await attached(ws)
    announcement = {
        "type": "reply.started",
        "origin": "another-process-channel",
        "conversation": str(conversation.pk),
        "html": '<div hx-swap-oob="beforeend:#messages">the exchange</div>',
    }
    await layer.group_send(group_name(conversation.pk), {**announcement, "reply": pending.pk})
    # A later reply of that conversation is news to this page: its exchange is the next
    # frame (the first announcement added nothing).
    later = {**announcement, "reply": pending.pk + 1, "html": "the next exchange"}
    await layer.group_send(group_name(conversation.pk), later)
    assert await ws.receive_from(timeout=5) == "the next exchange"
    await ws.disconnect()
    await database_sync_to_async(lease_release)(conversation.pk)


async def test_a_page_that_asked_too_early_asks_again_when_the_reply_is_announced(
    settings: Any,
) -> None:
    """The page opened between the reply's storing and the generating process joining the
    conversation's group: its first request to watch reached nobody."""
    from channels.layers import get_channel_layer

    from chat.services import lease_release

    cookie, conversation, pending = await _reply_elsewhere(settings)
    layer = get_channel_layer()
    ws = await connect(conversation, cookie)
    await attached(ws)  # its first request to watch went to an empty group
    generator = await layer.new_channel()  # the generating process joins only now
    await layer.group_add(group_name(conversation.pk), generator)
    await layer.group_send(
        group_name(conversation.pk),
        {
            "type": "reply.started",
            "origin": "another-process-channel",
            "conversation": str(conversation.pk),
            "reply": pending.pk,
            "html": '<div hx-swap-oob="beforeend:#messages">the exchange</div>',
        },
    )
    events = [await asyncio.wait_for(layer.receive(generator), 5) for _ in range(2)]
    assert [e["type"] for e in events] == ["reply.started", "stream.watch"]
    assert await ws.receive_nothing(timeout=0.3)  # the page shows the exchange already
    await ws.disconnect()
    await database_sync_to_async(lease_release)(conversation.pk)


async def attached(ws: WebsocketCommunicator) -> None:
    """Return once the socket has attached (in its group): a socket handles one event at a
    time, so its answer to a frame sent after connecting comes after the attaching."""
    await ws.send_to(text_data="{not json")
    assert "could not be read" in await ws.receive_from(timeout=5)


async def test_a_page_watching_a_reply_whose_process_died_shows_it_interrupted(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat.live import sockets
    from chat.live.lifecycle import Sweeper
    from chat.services import lease_release

    monkeypatch.setattr(sockets, "REMOTE_CHECK_SECONDS", 0.05)
    cookie, conversation, reply = await _reply_elsewhere(settings, "streaming", "Half")
    ws = await connect(conversation, cookie)
    await attached(ws)
    await database_sync_to_async(lease_release)(
        conversation.pk
    )  # the lease lapsed: nobody generates it
    await Sweeper(patience=0).sweep()
    frame = await ws.receive_from(timeout=5)
    await ws.disconnect()
    assert 'data-status="interrupted"' in frame and "Half" in frame
    await reply.arefresh_from_db()
    assert reply.status == "interrupted"


async def test_a_reply_elsewhere_that_ends_unannounced_is_shown_as_it_ended(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat.live import sockets
    from chat.services import lease_release

    monkeypatch.setattr(sockets, "REMOTE_CHECK_SECONDS", 0.05)
    cookie, conversation, reply = await _reply_elsewhere(settings, "streaming", "Half")
    ws = await connect(conversation, cookie)
    await attached(ws)
    reply.status, reply.content = "complete", "All **done**."
    await reply.asave()  # its last frame never reached this page
    frame = await ws.receive_from(timeout=5)
    await ws.disconnect()
    await database_sync_to_async(lease_release)(conversation.pk)
    assert f'id="msg-{reply.pk}"' in frame and 'data-status="complete"' in frame
    assert "<strong>done</strong>" in frame


async def test_a_reply_that_ends_while_a_page_attaches_is_shown_as_it_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from channels.layers import get_channel_layer

    _, cookie, conversation = await visitor()
    first = await connect(conversation, cookie)
    await send(first, "end while they attach [sim:tokens=5] [sim:ttft=300]")
    await first.receive_from(timeout=3)  # the exchange: the reply is live, still pending
    layer = get_channel_layer()
    real_group_add = layer.group_add

    async def group_add_after_the_reply(group: str, channel: str) -> None:
        while str(conversation.pk) in hub().replies:  # the reply ends meanwhile
            await asyncio.sleep(0.01)
        await real_group_add(group, channel)

    monkeypatch.setattr(layer, "group_add", group_add_after_the_reply)
    second = await connect(conversation, cookie)
    frame = await second.receive_from(timeout=5)
    monkeypatch.undo()
    await first.disconnect()
    await second.disconnect()
    assert 'data-status="complete"' in frame
    assert body_text(frame) == expected_text(
        [{"role": "user", "content": "end while they attach [sim:tokens=5] [sim:ttft=300]"}], 5
    )


async def _connections_settle(stats: Any, above: int) -> int:
    """The simulator's connection count once it has stopped growing past ``above``."""
    for _ in range(50):
        await asyncio.sleep(0.02)
        if stats.connections > above:
            break
    await asyncio.sleep(0.05)
    return int(stats.connections)


async def test_an_idle_page_opens_no_model_connection(simulator: Any) -> None:
    stats = simulator.simulator.stats
    _, cookie, conversation = await visitor()
    before = stats.connections
    ws = await connect(conversation, cookie)
    assert await _connections_settle(stats, before) == before
    await send(ws, "and now?")  # a question opens one
    assert 'data-status="complete"' in (await frames_until_done(ws))[-1]
    await ws.disconnect()
    assert stats.connections > before


async def test_events_are_dispatched_without_a_database_hop_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Channels' default dispatch closes stale database connections on the database thread
    before every frame; this consumer's database calls do that themselves."""
    import channels.consumer

    from chat.consumers import ConversationConsumer

    hops = 0

    async def counted() -> None:
        nonlocal hops
        hops += 1

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "Hello")
    assert 'data-status="complete"' in (await frames_until_done(ws))[-1]
    await ws.disconnect()
    assert hops == 0

    with pytest.raises(ValueError, match="No handler"):
        await ConversationConsumer().dispatch({"type": "no.such.event"})


async def test_a_message_sent_the_moment_an_answer_completes_is_accepted() -> None:
    """The final frame leaves once the reply is stored and the conversation is free."""
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    for text in ("first question", "second question", "third question"):
        await send(ws, text)
        frames = await frames_until_done(ws)
        assert 'data-status="complete"' in frames[-1]
        assert not any("still answering" in frame for frame in frames), text
    await ws.disconnect()
    stored = await replies(conversation)
    assert [m.status for m in stored] == ["complete"] * 6


async def test_a_long_reply_keeps_its_conversation_busy_past_the_lease_time(
    settings: Any,
) -> None:
    settings.ORION_GENERATION_LEASE_SECONDS = 1  # refreshed every third of a second
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "Take your time [sim:slow][sim:tokens=12]")  # 5 tokens/s: ~2.4 s
    await asyncio.sleep(1.6)  # a lease nobody refreshed would have lapsed by now
    await send(ws, "Are you done?")
    frames = await frames_until_done(ws)
    await ws.disconnect()
    assert any("still answering" in frame for frame in frames)
    assert [m.content for m in await replies(conversation) if m.role == "user"] == [
        "Take your time [sim:slow][sim:tokens=12]"
    ]
