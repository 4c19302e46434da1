"""The answer cache: tiers, what is cached, and what makes an answer stale."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.utils import timezone

from agents.models import CachedAnswer, Prompt, PromptVersion, Rule, Run
from agents.pipeline import (
    AnswerDone,
    AnswerError,
    ReplyContext,
    TextDelta,
    answer_stream,
    replies_prepare,
    runs_store,
)
from agents.pipeline.cache import memory, question_normalise
from agents.simulator import SimulatorThread

pytestmark = pytest.mark.django_db(transaction=True)


def ask(text: str, before: list[dict[str, str]] | None = None) -> ReplyContext:
    (context,) = replies_prepare([[*(before or []), {"role": "user", "content": text}]])
    return context


async def answered(text: str) -> tuple[ReplyContext, str]:
    """Ask, stream the whole answer, store the run as the chat would."""
    context = await sync_to_async(ask)(text)
    parts: list[str] = []
    outcome = "complete"
    try:
        parts = [e.text async for e in answer_stream(context) if isinstance(e, TextDelta)]
    except AnswerError:
        outcome = "failed"
    await sync_to_async(runs_store)(finished=[(None, context.run, outcome, "")])
    return context, "".join(parts)


def cache_step(context: ReplyContext) -> Any:
    return next(s for s in context.run.steps if s.name == "cache")


def test_questions_meet_whatever_their_case_spacing_or_final_mark() -> None:
    assert question_normalise("  What is   Django?? ") == question_normalise("what is django")


async def test_a_repeated_first_question_is_answered_from_memory_at_once(
    simulator: SimulatorThread,
) -> None:
    first, text = await answered("What is the speed of light?")
    assert first.run.answered_by == "model" and first.run.cost > 0
    requests = simulator.stats()["requests"]
    again = await sync_to_async(ask)("what is the speed of light")
    assert again.ready is not None and again.ready.text == text
    step = cache_step(again)
    assert (step.outcome, step.detail["tier"]) == ("hit", "l1")
    assert step.detail["saved_tokens_out"] == first.run.tokens_out
    assert step.detail["saved_cost"] == str(first.run.cost)
    first_event, *_, last_event = [e async for e in answer_stream(again)]
    assert isinstance(first_event, TextDelta) and first_event.text == text
    assert isinstance(last_event, AnswerDone) and last_event.answered_by == "cache"
    assert simulator.stats()["requests"] == requests  # no model call
    assert (again.run.cache_tier, again.run.cost) == ("l1", 0)


async def test_each_tier_answers_when_the_nearer_ones_have_forgotten() -> None:
    _, text = await answered("Name three rivers in France")
    memory.clear()
    second = await sync_to_async(ask)("Name three rivers in France")
    assert second.ready is not None
    assert (cache_step(second).detail["tier"], second.ready.text) == ("l2", text)
    memory.clear()
    cache.clear()
    third = await sync_to_async(ask)("Name three rivers in France")
    assert third.ready is not None
    assert (cache_step(third).detail["tier"], third.ready.text) == ("l3", text)
    fourth = await sync_to_async(ask)("Name three rivers in France")
    assert cache_step(fourth).detail["tier"] == "l1"  # the database's answer was kept near


async def test_a_later_turn_a_flagged_question_and_a_failed_answer_are_never_cached() -> None:
    later = await sync_to_async(ask)(
        "And in Spain?", [{"role": "user", "content": "Capital?"},
                          {"role": "assistant", "content": "Paris."}]
    )  # fmt: skip
    assert cache_step(later).outcome == "skip"
    failed, _ = await answered("Give me a word [sim:error]")
    generate = next(s for s in failed.run.steps if s.name == "generate")
    assert generate.outcome == "provider_error"
    assert not await CachedAnswer.objects.filter(question__contains="Give me a word").aexists()


async def test_publishing_a_prompt_stops_the_old_answers() -> None:
    await answered("What is a haiku?")
    await sync_to_async(_publish)("chat.system", "You are Orion. Answer in one line.")
    again = await sync_to_async(ask)("What is a haiku?")
    assert again.ready is None and cache_step(again).outcome == "miss"
    assert again.run.prompt_label.startswith("chat.system v")


def _publish(key: str, text: str) -> None:
    prompt, _ = Prompt.objects.get_or_create(key=key)
    number = prompt.versions.count() + 1
    PromptVersion.objects.filter(prompt=prompt, state="published").update(state="retired")
    PromptVersion.objects.create(prompt=prompt, number=number, text=text, state="published")


async def test_an_expired_answer_is_not_served(settings: Any) -> None:
    await answered("What is the tallest tree?")
    await CachedAnswer.objects.all().aupdate(expires_at=timezone.now() - timedelta(seconds=1))
    memory.clear()
    cache.clear()
    again = await sync_to_async(ask)("What is the tallest tree?")
    assert again.ready is None and cache_step(again).outcome == "miss"


async def test_offline_answers_are_not_cached(settings: Any) -> None:
    settings.OPENAI_BASE_URL = ""
    await answered("What is offline mode?")
    assert await CachedAnswer.objects.acount() == 0
    run = await Run.objects.aget()
    assert run.answered_by == "offline"


async def test_a_rule_added_later_makes_the_cached_answer_unreachable() -> None:
    await answered("What are your opening hours?")
    await Rule.objects.acreate(name="hours", pattern="opening hours", answer="9 to 5.")
    again = await sync_to_async(ask)("What are your opening hours?")
    assert again.ready is not None and again.ready.answered_by == "rule"
    await Rule.objects.all().adelete()
    # (the rule gone, the old answer's key is the one asked under again)
    later = await sync_to_async(ask)("What are your opening hours?")
    assert later.ready is not None and later.ready.answered_by == "cache"


async def test_deleting_a_cached_answer_in_the_admin_stops_it_in_every_tier() -> None:
    await answered("What is a fjord?")
    assert (await sync_to_async(ask)("What is a fjord?")).ready is not None
    await sync_to_async(lambda: CachedAnswer.objects.get().delete())()
    again = await sync_to_async(ask)("What is a fjord?")
    assert again.ready is None and cache_step(again).outcome == "miss"


async def test_an_answer_cut_short_by_the_token_limit_is_not_cached(settings: Any) -> None:
    settings.ORION_MAX_REPLY_TOKENS = 5
    first, _ = await answered("Tell me everything about rivers")
    generate = next(s for s in first.run.steps if s.name == "generate")
    assert generate.detail["finish_reason"] == "length"
    assert first.run.cache_put is None
