"""Tool calls through the pipeline and the simulator: rounds, limits, errors, records."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents.models import ToolSetting
from agents.pipeline.stages import ReplyContext
from agents.tools import TOOLS
from tests.agents.test_grounded import answer as grounded_answer

pytestmark = pytest.mark.django_db(transaction=True)


async def answer(question: str) -> tuple[ReplyContext, str]:
    context, text, done = await grounded_answer(question)
    assert done.answered_by == "model"
    return context, text


def steps(context: ReplyContext, name: str) -> list[Any]:
    return [s for s in context.run.steps if s.name == name]


async def test_every_registered_tool_has_a_row_and_is_offered() -> None:
    assert [name async for name in ToolSetting.objects.values_list("name", flat=True)] == sorted(
        TOOLS
    )
    context, _ = await answer("hello there")
    assert context.tools == tuple(TOOLS)
    assert steps(context, "tools")[0].outcome == "offered"


async def test_arithmetic_calls_the_calculator_and_the_answer_quotes_it() -> None:
    context, text = await answer("What is 12 * (3 + 4)?")
    assert text == "The calculator gives 84."
    assert context.tools_used == ["calculator"]
    (tool,) = steps(context, "tool")
    assert tool.outcome == "ok"
    assert tool.detail == {"tool": "calculator", "arguments": '{"expression": "12 * (3 + 4)"}',
                           "result_chars": 2}  # fmt: skip
    generated = steps(context, "generate")
    assert [g.outcome for g in generated] == ["tool_calls", "complete"]
    assert context.run.tokens_out == sum(g.tokens_out for g in generated)
    assert context.run.cache_put is None  # an answer from tools is not kept


async def test_two_calls_in_one_turn_both_run() -> None:
    context, text = await answer("What is 2 + 2 and what is the date today?")
    assert sorted(context.tools_used) == ["calculator", "current_datetime"]
    assert [s.detail["tool"] for s in steps(context, "tool")] == ["calculator", "current_datetime"]
    assert "4" in text


@pytest.mark.parametrize(
    ("marker", "error", "said"),
    [("[sim:tool=no_such_tool {}]", "unknown_tool", "no_such_tool"),
     ('[sim:tool=calculator {"expression": 1}]', "bad_arguments", "expression"),
     ("[sim:tool=calculator {not json]", "bad_arguments", "JSON"),
     ('[sim:tool=calculator {"expression": "1/0"}]', "failed", "division by zero")],
)  # fmt: skip
async def test_a_bad_call_goes_back_to_the_model_as_an_error(
    marker: str, error: str, said: str
) -> None:
    context, text = await answer(f"Please {marker}")
    (tool,) = steps(context, "tool")
    assert tool.outcome == error
    assert text.startswith("The tool") and said in text  # the model heard why
    assert context.tools_used == []


async def test_a_tool_staff_turned_off_is_not_offered_nor_run(settings: Any) -> None:
    setting = await ToolSetting.objects.aget(name="calculator")
    setting.enabled = False
    await setting.asave()  # (as the admin does: every process reloads)
    context, _ = await answer("What is 6 * 7?")
    assert "calculator" not in context.tools and steps(context, "tool") == []
    forced, text = await answer('Go [sim:tool=calculator {"expression": "6*7"}]')
    assert steps(forced, "tool")[0].outcome == "disabled" and "42" not in text


async def test_rounds_stop_at_the_limit_and_the_model_answers_without_tools(
    settings: Any,
) -> None:
    settings.ORION_TOOL_ROUNDS = 2
    context, text = await answer('Loop [sim:tool_repeat=calculator {"expression": "1+1"}]')
    assert len(steps(context, "tool")) == 2
    assert [g.outcome for g in steps(context, "generate")] == ["tool_calls", "tool_calls",
                                                               "complete"]  # fmt: skip
    assert text


async def test_the_cost_cap_ends_the_rounds(settings: Any) -> None:
    settings.ORION_TOOL_ROUNDS = 10
    settings.ORION_TOOL_COST_CAP = 0.000001  # the first turn already costs more
    context, _ = await answer('Loop [sim:tool_repeat=calculator {"expression": "1+1"}]')
    assert len(steps(context, "tool")) == 1
    assert steps(context, "generate")[-1].outcome == "complete"


async def test_passages_the_model_looks_up_are_numbered_after_those_it_was_given(
    settings: Any,
) -> None:
    settings.ORION_RETRIEVAL_PASSAGES = 1
    from agents.pipeline import reply_sources
    from tests.agents.test_grounded import GUIDE, add

    await sync_to_async(add)("Orion guide", GUIDE)
    await sync_to_async(add)("Travel", "# Travel\n\n## Hotels\n\nThe hotel allowance is 140 euros.")
    context, text = await answer(
        'How do I stop an answer while it streams? [sim:tool=knowledge_search {"query": "euros"}]'
    )
    given = [p.chunk_id for p in context.passages]
    assert len(given) == 2 and context.passages[-1].text.startswith("The hotel allowance")
    assert context.passages[0].heading_path.endswith("Stopping an answer")
    assert text.startswith("According to knowledge_search: [2] Travel › Hotels")
    assert [s["chunk_id"] for s in reply_sources(context, text)] == [given[-1]]
    assert context.tools_used == ["knowledge_search"]
