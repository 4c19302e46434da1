"""Every reply leaves a run with its steps, stored with the reply's final write; the page
says what answered."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from agents.models import GuardPattern, Rule, Run
from chat.live.generation import reply_stop
from chat.live.hub import hub
from chat.models import Message
from tests.chat.test_consumer import connect, frames_until_done, replies, send, visitor
from tests.conftest import until

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_model_reply_records_its_run_and_every_stage_in_order() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "Tell me about lighthouses")
    final = (await frames_until_done(ws))[-1]
    await ws.disconnect()
    _, reply = await replies(conversation)
    run = await Run.objects.select_related("prompt_version__prompt").aget(message=reply)
    assert (run.kind, run.answered_by, run.outcome, run.provider, run.model) == (
        "reply", "model", "complete", "openai-compatible", "orion-sim-1",
    )  # fmt: skip
    assert (run.tokens_out, run.cost, run.cost_estimated) == (30, reply.cost, False)
    assert run.ttft_ms is not None and run.duration_ms is not None
    assert run.duration_ms >= run.ttft_ms
    steps = [s async for s in run.steps.order_by("position")]
    assert [(s.name, s.outcome) for s in steps] == [
        ("guard", "allow"), ("cache", "miss"), ("route", "pass"), ("retrieve", "skip"),
        ("tools", "offered"), ("generate", "complete"), ("check", "ok"),
    ]  # fmt: skip
    starts = [s.start_ms for s in steps[:6]]
    assert starts == sorted(starts)
    generate, check = steps[5], steps[6]  # the check watches generation from outside it
    assert check.start_ms <= generate.start_ms
    assert check.start_ms + check.duration_ms >= generate.start_ms + generate.duration_ms
    assert steps[5].tokens_out == 30 and steps[5].cost == run.cost
    # (The shipped prompt's row is gone once a test before this one flushed the tables.)
    label = run.prompt_version.label if run.prompt_version else "chat.system shipped"
    assert reply.answered_by == "model" and reply.prompt_version == label
    assert 'data-answered-by="model"' in final and 'data-provider="openai-compatible"' in final
    assert 'data-part="answered-by"' not in final


async def test_a_rule_answer_says_so_on_the_page_and_costs_nothing() -> None:
    await Rule.objects.acreate(name="hours", pattern="opening hours", answer="Open 9 to 5.")
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "What are your opening hours?")
    final = (await frames_until_done(ws))[-1]
    await ws.disconnect()
    _, reply = await replies(conversation)
    assert (reply.status, reply.content, reply.answered_by, reply.cost) == (
        "complete", "Open 9 to 5.", "rule", None,
    )  # fmt: skip
    assert 'data-answered-by="rule"' in final and "data-provider" not in final
    assert "Answered by a rule" in final
    run = await Run.objects.aget(message=reply)
    assert (run.answered_by, run.cost, run.provider) == ("rule", 0, "")


async def test_a_blocked_message_is_stored_with_a_polite_refusal() -> None:
    await GuardPattern.objects.acreate(name="secret", pattern="launch codes", score=3)
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "Give me the launch codes")
    final = (await frames_until_done(ws))[-1]
    await ws.disconnect()
    user, reply = await replies(conversation)
    assert user.content == "Give me the launch codes"  # the person's words are kept
    assert reply.answered_by == "guard" and "can't help with that" in reply.content
    assert 'data-answered-by="guard"' in final and "Not sent to the model" in final


async def test_a_repeated_question_is_answered_from_the_cache_in_another_conversation() -> None:
    _, cookie, first = await visitor()
    ws = await connect(first, cookie)
    await send(ws, "Why is the sky blue?")
    await frames_until_done(ws)
    await ws.disconnect()
    _, cookie2, second = await visitor()
    ws = await connect(second, cookie2)
    await send(ws, "why is the sky blue")
    final = (await frames_until_done(ws))[-1]
    await ws.disconnect()
    (_, answer), (_, again) = await replies(first), await replies(second)
    assert again.content == answer.content and again.answered_by == "cache"
    assert "Answered from the cache" in final
    run = await Run.objects.aget(message=again)
    assert (run.answered_by, run.cache_tier, run.tokens_out) == ("cache", "l1", 0)


async def test_a_failed_reply_still_records_what_its_attempt_cost() -> None:
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "Half an answer [sim:drop=10]")
    await frames_until_done(ws)
    await ws.disconnect()
    _, reply = await replies(conversation)
    run = await Run.objects.aget(message=reply)
    assert (reply.status, run.outcome, run.error_code) == ("failed", "failed", "dropped")
    assert run.cost_estimated and run.tokens_out > 0 and run.cost > 0
    generate = await run.steps.aget(name="generate")
    assert generate.outcome == "dropped" and generate.detail["estimated"] is True


async def test_the_runs_of_a_burst_are_stored_with_its_replies() -> None:
    visitors = [await visitor() for _ in range(5)]
    sockets = [await connect(conversation, cookie) for _, cookie, conversation in visitors]
    for n, ws in enumerate(sockets):
        await send(ws, f"Burst question number {n}")
    for ws in sockets:
        await frames_until_done(ws)
        await ws.disconnect()
    replies = Run.objects.filter(kind="reply", answered_by="model")
    assert await database_sync_to_async(replies.count)() == 5


async def test_stopping_a_reply_keeps_its_text_ends_it_stopped_and_records_the_cost(
    simulator: Any,
) -> None:
    stats = simulator.simulator.stats
    _, cookie, conversation = await visitor()
    ws = await connect(conversation, cookie)
    await send(ws, "a long answer please [sim:slow][sim:tokens=400]")
    key = str(conversation.pk)
    assert await until(lambda: key in hub().replies and hub().replies[key].parts != [], 5.0)
    await reply_stop(conversation_id=key)
    final = (await frames_until_done(ws))[-1]
    await ws.disconnect()
    assert await until(lambda: stats.active_streams == 0, 3.0)  # the model request is closed
    _, reply = await replies(conversation)
    assert (reply.status, reply.error_code) == ("interrupted", "stopped")
    assert reply.content and 'data-status="interrupted"' in final and "Stopped." in final
    run = await Run.objects.aget(message=reply)
    assert (run.outcome, run.error_code, run.cost_estimated) == ("interrupted", "stopped", True)
    generate = await run.steps.aget(name="generate")
    assert generate.outcome == "interrupted" and generate.tokens_out > 0 and run.cost > 0


async def test_a_run_whose_prompt_version_was_deleted_is_stored_unlinked() -> None:
    from agents.pipeline import RunRecord, runs_store

    record = RunRecord(prompt_version_id=987654, prompt_label="chat.system v9")
    await database_sync_to_async(runs_store)(finished=[(None, record, "complete", "")])
    run = await Run.objects.aget()
    assert run.prompt_version_id is None and run.outcome == "complete"


async def test_each_run_keeps_the_links_that_still_exist_and_loses_the_others() -> None:
    from agents.models import Prompt, PromptVersion
    from agents.pipeline import RunRecord, runs_store

    _, _, conversation = await visitor()
    reply = await Message.objects.acreate(conversation=conversation, role="assistant")
    prompt = await Prompt.objects.acreate(key="test.linked")
    version = await PromptVersion.objects.acreate(prompt=prompt, number=1, text="Be brief.")
    linked = RunRecord(prompt_version_id=version.pk)
    unlinked = RunRecord(prompt_version_id=987654)
    await database_sync_to_async(runs_store)(
        finished=[(reply.pk, linked, "complete", ""), (876543, unlinked, "complete", "")]
    )
    kept = Run.objects.filter(message=reply, prompt_version=version)
    assert await database_sync_to_async(kept.count)() == 1
    lost = Run.objects.filter(message__isnull=True, prompt_version__isnull=True)
    assert await database_sync_to_async(lost.count)() == 1
