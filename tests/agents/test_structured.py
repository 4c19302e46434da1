"""Structured output: JSON checked against a schema, one repair try, then a clear error."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agents.models import Run
from agents.pipeline import AnswerError, error_text
from agents.pipeline.structured import json_part, structured_parse

pytestmark = pytest.mark.django_db(transaction=True)


class Goal(BaseModel):
    title: str
    priority: int


def test_the_json_is_taken_out_of_a_fenced_block() -> None:
    assert json_part('Here:\n```json\n{"a": 1}\n```\nDone.') == '{"a": 1}'
    assert json_part(' {"a": 1} ') == '{"a": 1}'


async def test_a_valid_answer_needs_no_repair() -> None:
    async def repair(text: str, problem: str, schema: str) -> str:
        raise AssertionError("not asked")

    goal = await structured_parse('{"title": "Ship", "priority": 1}', Goal, repair=repair)
    assert goal == Goal(title="Ship", priority=1)


async def test_one_repair_is_asked_with_the_problem_and_the_schema() -> None:
    asked: list[tuple[str, str, str]] = []

    async def repair(text: str, problem: str, schema: str) -> str:
        asked.append((text, problem, schema))
        return '```json\n{"title": "Ship", "priority": 2}\n```'

    goal = await structured_parse('{"title": "Ship", "priority": "high"}', Goal, repair=repair)
    assert goal.priority == 2
    ((text, problem, schema),) = asked
    assert "priority" in problem and '"priority"' in schema and "high" in text


async def test_a_second_failure_is_a_clear_error() -> None:
    async def repair(text: str, problem: str, schema: str) -> str:
        return "still not JSON"

    with pytest.raises(AnswerError) as failed:
        await structured_parse("no JSON here", Goal, repair=repair)
    assert failed.value.code == "bad_structure"
    assert failed.value.user_message == error_text("bad_structure")


async def test_the_model_is_asked_to_repair_and_the_attempt_is_recorded() -> None:
    # The simulator answers in prose, so its repair fails too: the error, and its run.
    with pytest.raises(AnswerError):
        await structured_parse("not JSON", Goal)
    run = await Run.objects.aget(kind="job")
    step = await run.steps.aget()
    assert (step.name, step.outcome, run.outcome) == ("repair", "complete", "complete")
