"""Tools the model may call: the registry, and the runner's parallelism, timeouts and
errors (each a result the model can read, never an exception). The tools themselves:
``test_tool_functions`` (calculator, clock), ``test_tool_knowledge``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from agents.tools import (
    MAX_RESULT_CHARS,
    TOOLS,
    Tool,
    ToolCall,
    ToolContext,
    ToolResult,
    tool_specs,
    tools_run,
)

ALL = ("calculator", "current_datetime", "knowledge_search")
STAFF_AUDIENCES = ("everyone", "signed_in", "staff")


def everyone() -> ToolContext:
    """A visitor's context, fresh: a reply's passages accumulate in its context."""
    return ToolContext()


def staff() -> ToolContext:
    return ToolContext(audiences=STAFF_AUDIENCES)


def call(name: str, arguments: Any = None, id: str = "call_1") -> ToolCall:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return ToolCall(id=id, name=name, arguments=raw)


async def run_one(name: str, arguments: Any = None, **kwargs: Any) -> ToolResult:
    kwargs.setdefault("enabled", ALL + tuple(kwargs.pop("extra", ())))
    kwargs.setdefault("context", everyone())
    [result] = await tools_run([call(name, arguments)], **kwargs)
    return result


def tool(name: str, function: Callable[[dict[str, Any], ToolContext], Any], **options: Any) -> Tool:
    return Tool(
        name=name,
        description=f"A test tool, {name}.",
        parameters={"type": "object", "properties": {}},
        function=function,
        **options,
    )


def sleeper(seconds: float) -> Callable[[dict[str, Any], ToolContext], str]:
    def function(arguments: dict[str, Any], context: ToolContext) -> str:
        time.sleep(seconds)
        return f"slept {seconds}"

    return function


# --- the registry ---------------------------------------------------------------------------


def test_the_registry_offers_three_tools_in_order() -> None:
    assert list(TOOLS) == list(ALL)
    assert [TOOLS[name].label for name in ALL] == [
        "the calculator",
        "the date",
        "the knowledge base",
    ]
    assert TOOLS["knowledge_search"].uses_database
    assert not TOOLS["calculator"].uses_database


def test_specs_follow_the_registry_order_and_skip_unknown_names() -> None:
    specs = tool_specs(["knowledge_search", "no_such_tool", "calculator"])

    assert [spec["function"]["name"] for spec in specs] == ["calculator", "knowledge_search"]
    assert specs[0] == {
        "type": "function",
        "function": {
            "name": "calculator",
            "description": TOOLS["calculator"].description,
            "parameters": TOOLS["calculator"].parameters,
        },
    }
    assert tool_specs([]) == []


@pytest.mark.parametrize("name", ALL)
def test_each_tool_s_parameters_are_a_valid_object_schema(name: str) -> None:
    schema = TOOLS[name].parameters
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"


# --- running calls --------------------------------------------------------------------------


async def test_a_calculator_call_runs() -> None:
    result = await run_one("calculator", {"expression": "12 * (3 + 4)"})

    assert result == ToolResult(
        call=call("calculator", {"expression": "12 * (3 + 4)"}),
        ok=True,
        content="84",
        error="",
        duration_ms=result.duration_ms,
        result_chars=2,
    )
    assert 0 < result.duration_ms < 2000


async def test_calls_run_in_parallel_and_results_keep_the_calls_order(monkeypatch: Any) -> None:
    monkeypatch.setitem(TOOLS, "slow", tool("slow", sleeper(0.5)))
    monkeypatch.setitem(TOOLS, "quick", tool("quick", sleeper(0.3)))
    calls = [call("slow", id="1"), call("quick", id="2"), call("calculator", {"expression": "1+1"})]

    started = time.perf_counter()
    results = await tools_run(calls, enabled=[*ALL, "slow", "quick"], context=everyone())
    elapsed = time.perf_counter() - started

    assert [r.content for r in results] == ["slept 0.5", "slept 0.3", "2"]
    assert [r.call for r in results] == calls
    assert 0.5 <= elapsed < 0.75  # the slower one, not the sum (0.8 s)


async def test_database_and_worker_tools_run_in_parallel(monkeypatch: Any) -> None:
    monkeypatch.setitem(TOOLS, "db", tool("db", sleeper(0.4), uses_database=True))
    monkeypatch.setitem(TOOLS, "cpu", tool("cpu", sleeper(0.4)))

    started = time.perf_counter()
    results = await tools_run([call("db"), call("cpu")], enabled=["db", "cpu"], context=everyone())

    assert all(result.ok for result in results)
    assert time.perf_counter() - started < 0.7


@pytest.mark.parametrize("uses_database", [False, True])
async def test_a_slow_tool_times_out_without_holding_the_turn(
    monkeypatch: Any, uses_database: bool
) -> None:
    release = threading.Event()

    def hang(arguments: dict[str, Any], context: ToolContext) -> str:
        release.wait(5)
        return "too late"

    monkeypatch.setitem(TOOLS, "hang", tool("hang", hang, timeout=0.1, uses_database=uses_database))
    monkeypatch.setitem(TOOLS, "quick", tool("quick", sleeper(0.0)))

    started = time.perf_counter()
    try:
        hung, quick = await tools_run(
            [call("hang"), call("quick")], enabled=["hang", "quick"], context=everyone()
        )
    finally:
        release.set()  # the abandoned thread ends now, not during the next test

    assert time.perf_counter() - started < 0.4
    assert not hung.ok and hung.error == "timeout"
    assert hung.content.startswith("Error: hang gave no result within 0.1 seconds.")
    assert 100 <= hung.duration_ms < 400
    assert quick.ok and quick.content == "slept 0.0"


async def test_an_unknown_tool_is_an_error_naming_the_tools_there_are() -> None:
    result = await run_one("web_search", {"query": "x"}, enabled=["calculator", "knowledge_search"])

    assert not result.ok and result.error == "unknown_tool"
    assert result.content == (
        "Error: there is no tool called 'web_search'. The tools are: calculator, knowledge_search."
    )
    assert result.result_chars == len(result.content)


async def test_a_disabled_tool_does_not_run(monkeypatch: Any) -> None:
    ran: list[dict[str, Any]] = []

    def spy(arguments: dict[str, Any], context: ToolContext) -> str:
        ran.append(arguments)
        return "ran"

    monkeypatch.setitem(TOOLS, "spy", tool("spy", spy))

    result = await run_one("spy", enabled=["calculator"])

    assert not result.ok and result.error == "disabled"
    assert result.content == "Error: the tool spy is turned off here. Answer without it."
    assert ran == []


@pytest.mark.parametrize(
    ("name", "arguments", "said"),
    [
        ("calculator", '{"expression": "1+', "the arguments are not valid JSON (Unterminated"),
        ("calculator", "expression=1+1", "not valid JSON (Expecting value at character 0)"),
        ("calculator", '["1+1"]', "the arguments must be a JSON object, not an array."),
        ("calculator", '"1+1"', "the arguments must be a JSON object, not a string."),
        ("calculator", "{}", "'expression' is a required property."),
        ("calculator", {"expression": 12}, "argument 'expression' must be of type string"),
        ("calculator", {"expression": "1" * 201}, "'expression' is longer than 200 characters."),
        ("calculator", {"expression": ""}, "'expression' is shorter than 1 character(s)."),
        ("calculator", {"expression": "1", "mode": "x"}, "('mode' was unexpected)"),
        ("knowledge_search", {"query": "x", "limit": 9}, "argument 'limit' is more than 5."),
        ("knowledge_search", {"query": "x", "limit": 0}, "argument 'limit' is less than 1."),
        ("knowledge_search", {"query": "x", "limit": "3"}, "'limit' must be of type integer"),
        ("knowledge_search", {"query": "x", "limit": True}, "not a boolean"),
        ("knowledge_search", {"query": "q" * 501}, "'query' is longer than 500 characters."),
        ("current_datetime", {"timezone": None}, "'timezone' must be of type string, not null"),
    ],
)
async def test_bad_arguments_say_which_argument_is_wrong(
    name: str, arguments: Any, said: str
) -> None:
    result = await run_one(name, arguments)

    assert not result.ok and result.error == "bad_arguments"
    assert result.content.startswith("Error: ")
    assert said in result.content
    assert result.content.endswith(f"Call {name} again, fixed.")
    assert len(result.content) < 300  # a long value is not echoed back


async def test_a_tool_s_own_failure_reaches_the_model_in_its_words() -> None:
    result = await run_one("calculator", {"expression": "1/0"})

    assert not result.ok and result.error == "failed"
    assert result.content == "Error: division by zero"


async def test_an_unknown_zone_reaches_the_model_by_name() -> None:
    result = await run_one("current_datetime", {"timezone": "Mars/Olympus_Mons"})

    assert result.error == "failed" and "'Mars/Olympus_Mons'" in result.content


async def test_an_exception_in_a_tool_is_a_failure_without_its_details(monkeypatch: Any) -> None:
    def broken(arguments: dict[str, Any], context: ToolContext) -> str:
        raise RuntimeError("password=hunter2")

    monkeypatch.setitem(TOOLS, "broken", tool("broken", broken))
    monkeypatch.setitem(TOOLS, "also_db", tool("also_db", broken, uses_database=True))

    results = await tools_run(
        [call("broken"), call("also_db"), call("calculator", {"expression": "2*3"})],
        enabled=["broken", "also_db", "calculator"],
        context=everyone(),
    )

    assert [r.error for r in results] == ["failed", "failed", ""]
    assert results[0].content == "Error: broken failed unexpectedly. Answer without it."
    assert all("hunter2" not in r.content for r in results)
    assert results[2].content == "6"  # one broken call does not spoil the others


async def test_a_tool_raising_timeout_error_itself_is_a_failure_not_a_timeout(
    monkeypatch: Any,
) -> None:
    def raises(arguments: dict[str, Any], context: ToolContext) -> str:
        raise TimeoutError("upstream")

    monkeypatch.setitem(TOOLS, "raises", tool("raises", raises))

    assert (await run_one("raises", extra=["raises"])).error == "failed"


async def test_a_tool_returning_something_other_than_text_is_a_failure(monkeypatch: Any) -> None:
    monkeypatch.setitem(TOOLS, "number", tool("number", lambda args, ctx: 42))

    result = await run_one("number", extra=["number"])

    assert result.error == "failed" and "42" not in result.content


async def test_a_long_result_is_cut_with_a_note(monkeypatch: Any) -> None:
    monkeypatch.setitem(TOOLS, "long", tool("long", lambda args, ctx: "x" * 20_000))
    monkeypatch.setitem(TOOLS, "exact", tool("exact", lambda args, ctx: "y" * MAX_RESULT_CHARS))

    long, exact = await tools_run(
        [call("long"), call("exact")], enabled=["long", "exact"], context=everyone()
    )

    assert long.ok and long.result_chars == len(long.content) == MAX_RESULT_CHARS
    assert long.content.startswith("x" * 7000)
    assert long.content.endswith("[… cut: the result had 20000 characters; this is the beginning]")
    assert exact.content == "y" * MAX_RESULT_CHARS  # at the limit: nothing cut


async def test_the_context_reaches_the_tool(monkeypatch: Any) -> None:
    seen: list[ToolContext] = []

    def who(arguments: dict[str, Any], context: ToolContext) -> str:
        seen.append(context)
        return "ok"

    monkeypatch.setitem(TOOLS, "who", tool("who", who))

    await tools_run([call("who")], enabled=["who"], context=staff())

    assert seen == [staff()]


async def test_no_calls_no_results() -> None:
    assert await tools_run([], enabled=ALL, context=everyone()) == []
