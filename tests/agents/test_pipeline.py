"""The answer pipeline: its public face, the runner and its stages, titles."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from asgiref.sync import sync_to_async

import agents.pipeline
from agents.models import Run
from agents.pipeline import (
    OFFLINE_REPLY,
    AnswerDone,
    AnswerError,
    TextDelta,
    answer_stream,
    error_text,
    model_input,
    model_status,
    replies_prepare,
    staff_config,
    title_suggest,
)
from agents.pipeline.events import AnswerEvent
from agents.pipeline.runner import STAGES, first_answer, stages_load
from agents.pipeline.stages import AnswerStream, ReplyContext
from agents.simulator import SimulatorThread, simulated_reply
from tests.conftest import free_port

pytestmark = pytest.mark.django_db(transaction=True)

HISTORY = [{"role": "user", "content": "hi"}]


async def events_of(history: list[dict[str, str]]) -> list[AnswerEvent]:
    (context,) = await sync_to_async(replies_prepare)([history])
    return [event async for event in answer_stream(context)]


async def prompt_text(key: str) -> str:
    return (await sync_to_async(staff_config)()).prompt(key).text


def test_the_pipeline_shows_exactly_its_public_names() -> None:
    assert set(agents.pipeline.__all__) == {
        "answer_stream", "AnswerDone", "TextDelta", "Usage", "AnswerError", "error_text",
        "model_status", "ModelStatus", "OFFLINE_REPLY", "title_suggest", "PublishedPrompt",
        "ReplyContext", "RunRecord", "Verdict", "guard_assess", "model_input",
        "replies_prepare", "runs_store", "staff_config", "answered_by_text", "history_fit",
        "summary_write", "with_summary", "fallback_path", "prompt_version_link",
        "reply_sources", "tools_used_text", "audience_levels",
    }  # fmt: skip
    assert inspect.isasyncgenfunction(answer_stream)


async def test_an_answer_prepends_the_system_prompt_and_reports_cost() -> None:
    events = await events_of(HISTORY)
    *deltas, done = events
    system = await sync_to_async(staff_config)()
    expected = simulated_reply(model_input(HISTORY, system.prompt("chat.system")), 30)
    assert all(isinstance(e, TextDelta) for e in deltas)
    assert "".join(e.text for e in deltas if isinstance(e, TextDelta)) == "".join(expected)
    assert isinstance(done, AnswerDone)
    assert (done.provider, done.model, done.finish_reason) == (
        "openai-compatible",
        "orion-sim-1",
        "stop",
    )
    assert done.usage is not None and done.usage.tokens_out == 30
    assert done.cost is not None and done.cost > 0


async def test_a_failed_answer_is_an_answer_error_a_person_can_read() -> None:
    with pytest.raises(AnswerError) as failed:
        await events_of([{"role": "user", "content": "hi [sim:error]"}])
    assert failed.value.code == "provider_error"
    assert failed.value.user_message == error_text("provider_error")


async def test_offline_mode_answers_honestly_without_a_model(
    settings: Any, simulator: SimulatorThread
) -> None:
    settings.OPENAI_BASE_URL = ""
    before = simulator.stats()["requests"]
    events = await events_of(HISTORY)
    assert events == [
        TextDelta(OFFLINE_REPLY),
        AnswerDone(provider="offline", model="", usage=None, cost=None, finish_reason="stop",
                   answered_by="offline"),
    ]  # fmt: skip
    assert simulator.stats()["requests"] == before
    assert model_status().offline


def test_a_simulated_model_is_labelled_as_such(settings: Any) -> None:
    assert model_status().simulated
    settings.ORION_MODEL = "gpt-4o-mini"
    status = model_status()
    assert not status.simulated and not status.offline and status.model == "gpt-4o-mini"


# --- the runner -------------------------------------------------------------------------------


class Passing:
    name = "passing"

    def __init__(self) -> None:
        self.asked = 0

    def prepare(self, contexts: list[ReplyContext], config: Any) -> None:
        return None

    async def answer(self, context: ReplyContext) -> AnswerStream | None:
        self.asked += 1
        context.history = [*context.history, {"role": "system", "content": "noted"}]
        return None


class Answering:
    def __init__(self, name: str) -> None:
        self.name = name
        self.asked = 0
        self.seen: list[dict[str, str]] = []

    def prepare(self, contexts: list[ReplyContext], config: Any) -> None:
        return None

    async def answer(self, context: ReplyContext) -> AnswerStream | None:
        self.asked += 1
        self.seen = context.history
        return self._reply()

    async def _reply(self) -> AnswerStream:
        yield TextDelta(self.name)
        yield AnswerDone(provider=self.name, model="", usage=None, cost=None, finish_reason="stop")


async def test_the_first_stage_that_answers_wins_and_later_ones_are_not_asked() -> None:
    passing, first, second = Passing(), Answering("first"), Answering("second")
    context = ReplyContext(history=HISTORY, provider=None)
    stream = await first_answer([passing, first, second], context)
    assert [event async for event in stream][0] == TextDelta("first")
    assert (passing.asked, first.asked, second.asked) == (1, 1, 0)
    assert first.seen[-1] == {"role": "system", "content": "noted"}  # what stages share


async def test_a_list_where_no_stage_answers_is_an_internal_error() -> None:
    with pytest.raises(AnswerError) as failed:
        await first_answer([Passing()], ReplyContext(history=HISTORY, provider=None))
    assert failed.value.code == "internal"


def test_the_stages_are_declared_as_data_in_the_order_of_the_design() -> None:
    assert [stage.name for stage in STAGES] == [
        "guard", "cache", "route", "retrieve", "tools", "generate",
    ]  # fmt: skip
    assert [s.name for s in stages_load(["agents.pipeline.generate.GenerateStage"])] == ["generate"]


# --- errors people read -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words"),
    [("timeout", "The model took too long to answer. Please try again."),
     ("unavailable", "The model could not be reached. Please try again in a moment."),
     ("dropped", "The connection to the model broke off before the answer was finished."),
     ("provider_error", "The model provider reported an error. Please try again."),
     ("rate_limited", "The model provider is busy right now. Please try again in a moment."),
     ("auth", "The model provider refused Orion's credentials. An administrator needs to "
              "check the configuration."),
     ("bad_request", "The model provider could not process this conversation."),
     ("interrupted", "The answer was interrupted before it finished (the server restarted)."),
     ("internal", "Something went wrong on our side while answering. Please try again.")],
)  # fmt: skip
def test_each_error_code_has_its_words(code: str, words: str) -> None:
    assert error_text(code) == words
    assert AnswerError(code).user_message == words


def test_an_unknown_code_gets_the_internal_words() -> None:
    assert error_text("no-such-code") == error_text("internal")


# --- titles -----------------------------------------------------------------------------------


async def test_a_title_comes_from_the_model() -> None:
    first = "How do I bake bread at home quickly?"
    expected = simulated_reply(
        [{"role": "system", "content": await prompt_text("chat.title")},
         {"role": "user", "content": first}], 20
    )  # fmt: skip
    assert await title_suggest(first) == "".join(expected).strip()
    run = await Run.objects.aget(kind="job")
    step = await run.steps.aget()
    assert (run.answered_by, run.outcome, step.name, step.outcome) == (
        "model", "complete", "title", "complete",
    )  # fmt: skip
    assert step.tokens_out == len(expected) and run.cost == step.cost and run.cost > 0


async def test_offline_a_title_is_made_of_the_first_words(settings: Any) -> None:
    settings.OPENAI_BASE_URL = ""
    assert (
        await title_suggest("one two three four five six seven") == "one two three four five six…"
    )


async def test_a_failing_model_never_breaks_a_title(settings: Any) -> None:
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    assert await title_suggest("  plan   a trip  ") == "plan a trip"
    assert await title_suggest("") == "New conversation"
    failed = await Run.objects.filter(kind="job").alatest("started_at")
    assert (failed.outcome, failed.error_code, failed.cost) == ("failed", "unavailable", 0)
