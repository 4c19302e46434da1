"""Tools the model may call: the calculator's arithmetic and refusals, the clock, the
knowledge base over really ingested documents, and the runner's parallelism, timeouts
and errors (each a result the model can read, never an exception)."""

from __future__ import annotations

import ast
import builtins
import datetime
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from asgiref.sync import sync_to_async
from jsonschema import Draft202012Validator

from agents.knowledge.ingest import document_add, document_ingest, upload_from_file
from agents.models import Document
from agents.tools import (
    MAX_RESULT_CHARS,
    TOOLS,
    Tool,
    ToolCall,
    ToolContext,
    ToolFailure,
    ToolResult,
    tool_specs,
    tools_run,
)
from agents.tools.calculator import calculate
from agents.tools.clock import now_in

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


# --- the calculator -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("6 * 7", "42"),
        ("168 / 2", "84"),
        ("1/3", "0.333333333333"),
        ("2/3", "0.666666666667"),
        ("0.1 + 0.2", "0.3"),
        ("(2 + 3) * 4 - -1", "21"),
        ("7 // 2", "3"),
        ("-7 // 2", "-4"),
        ("7 % 3", "1"),
        ("2 ** 10", "1024"),
        ("2 ** -2", "0.25"),
        ("2 ** 0.5", "1.41421356237"),
        ("2^10", "1024"),  # as people type it, not XOR
        ("3 × 4", "12"),
        ("10 ÷ 4", "2.5"),
        ("5 − 8", "-3"),  # the typographic minus sign
        ("2 + 2 =", "4"),
        ("2 ** 3 ** 2", "512"),  # right-associative
        ("10 ** 99", "1" + "0" * 99),  # big integers stay exact
        ("123456789 * 987654321", "121932631112635269"),
        ("sqrt(16)", "4"),
        ("sqrt(2) * 10^3", "1414.21356237"),
        ("abs(-3.5)", "3.5"),
        ("round(2.5)", "3"),  # half away from zero, not Python's banker's rounding
        ("round(2.675, 2)", "2.68"),
        ("round(1234.5, -2)", "1200"),
        ("min(3, 1.5, 2)", "1.5"),
        ("max(1, 200)", "200"),  # a comma between arguments is fine
        ("floor(-2.5)", "-3"),
        ("ceil(2.1)", "3"),
        ("log(e)", "1"),
        ("log(8, 2)", "3"),
        ("log10(1000)", "3"),
        ("exp(0)", "1"),
        ("pi", "3.14159265359"),
        ("-0.0", "0"),
        ("1e20 / 1", "1e+20"),
        ("  (((1)))  ", "1"),
        ("+".join(["1"] * 100), "100"),  # a long sum is not "too deep"
        ("^".join(["1"] * 100), "1"),  # 200 characters as typed, longer as Python
    ],
)
def test_calculator_computes(expression: str, value: str) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        # Python that must never run: names, calls, attributes, dunders, other syntax.
        ("__import__('os').system('touch /tmp/pwned')", "attribute access"),
        ("__import__('os')", "unknown function '__import__'"),
        ("eval('1+1')", "unknown function 'eval'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("().__class__.__bases__[0].__subclasses__()", "attribute access"),
        ("(1).real", "attribute access"),
        ("math.pi", "attribute access"),
        ("x + 1", "unknown name 'x'"),
        ("__builtins__", "unknown name '__builtins__'"),
        ("sqrt.__globals__", "attribute access"),
        ("(lambda: 1)()", "is not a function the calculator has"),
        ("lambda: 1", "is not arithmetic"),
        ("[1, 2][0]", "is not arithmetic"),
        ("'a' * 3", "only numbers are allowed"),
        ("f'{1}'", "is not arithmetic"),
        ("1 < 2", "is not arithmetic"),
        ("1 if 1 else 2", "is not arithmetic"),
        ("True + 1", "only numbers are allowed, not True"),
        ("1j * 2", "only numbers are allowed"),
        ("2 & 3", "is not allowed"),
        ("round(x=1)", "takes plain numbers"),
        ("max(*[1, 2])", "takes plain numbers"),
        ("x = 1", "cannot read the expression"),
        ("import os", "cannot read the expression"),
        ("1 2", "cannot read the expression"),
        ("1\x00", "cannot read the expression"),
        # Sizes: nothing that could hold a thread or fill memory.
        ("9**9**9", "more than 100 digits"),
        ("10 ** 100", "more than 100 digits"),
        ("10 ** 99 * 10", "more than 100 digits"),
        ("2 ** 1000000000", "more than 100 digits"),
        ("1.5 ** 1e10", "more than 100 digits"),
        ("1e999", "more than 100 digits"),
        ("9" * 101, "more than 100 digits"),
        ("exp(1000)", "more than 100 digits"),
        ("1" * 201, "longer than 200 characters"),
        ("-" * 150 + "1", "nested more than 100 levels"),
        ("round(1, 100)", "round's digits"),
        # Arithmetic that has no answer.
        ("1 / 0", "division by zero"),
        ("5 // 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("1 / (2 - 2)", "division by zero"),
        ("sqrt(-1)", "square root of a negative number"),
        ("log(0)", "logarithm of zero"),
        ("log(8, 1)", "base must be positive and not 1"),
        ("(-8) ** (1/3)", "no real value"),
        # What people type that is not arithmetic as written.
        ("1,000 + 1", "without thousands separators"),
        ("1,000,000", "without thousands separators"),
        ("3,5 * 2", "decimal commas"),
        ("1,050", "without thousands separators"),
        ("2(3 + 4)", "write multiplication with *"),
        ("min(3)", "min takes two numbers or more"),
        ("sqrt(1, 2)", "sqrt takes one number"),
        ("", "empty"),
        ("   =", "empty"),
    ],
)
def test_calculator_refuses_in_words(expression: str, why: str) -> None:
    with pytest.raises(ToolFailure, match=None) as refused:
        calculate(expression)
    assert why in str(refused.value)


def test_huge_powers_are_refused_before_they_are_computed() -> None:
    started = time.perf_counter()
    for expression in ("9**9**9", "99999**99999", "2**2**2**2**2**2"):
        with pytest.raises(ToolFailure):
            calculate(expression)
    assert time.perf_counter() - started < 0.1


def test_the_calculator_never_runs_code(monkeypatch: Any) -> None:
    compiled: list[int] = []

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("eval or exec was called")

    def tree_only(source: Any, filename: Any, mode: str, flags: int = 0, **kwargs: Any) -> Any:
        compiled.append(flags)
        assert flags & ast.PyCF_ONLY_AST, "compiled to code, not only to a tree"
        return real_compile(source, filename, mode, flags, **kwargs)

    real_compile = builtins.compile
    with monkeypatch.context() as patched:  # undone before pytest reports (it compiles)
        patched.setattr(builtins, "eval", never)
        patched.setattr(builtins, "exec", never)
        patched.setattr(builtins, "compile", tree_only)
        value = calculate("2 ** 8 + sqrt(16)")
        with pytest.raises(ToolFailure):
            calculate("__import__('os').getcwd()")

    assert value == "260"
    assert compiled and all(flags & ast.PyCF_ONLY_AST for flags in compiled)


# --- the clock ------------------------------------------------------------------------------

WINTER = datetime.datetime(2026, 12, 7, 13, 3, 27, tzinfo=datetime.UTC)


@time_machine.travel(WINTER, tick=False)
def test_datetime_in_a_named_zone() -> None:
    assert now_in("Europe/Paris") == (
        "2026-12-07 14:03 (Monday), Europe/Paris, UTC+01:00\nISO 8601: 2026-12-07T14:03:27+01:00"
    )


@time_machine.travel(datetime.datetime(2026, 7, 1, 23, 30, tzinfo=datetime.UTC), tick=False)
def test_datetime_follows_summer_time_and_the_date_line() -> None:
    assert now_in("Europe/Paris").startswith("2026-07-02 01:30 (Thursday), Europe/Paris, UTC+02:00")
    assert now_in("America/New_York").startswith("2026-07-01 19:30 (Wednesday)")
    assert "UTC-04:00" in now_in("America/New_York")


@time_machine.travel(WINTER, tick=False)
def test_datetime_without_a_zone_is_the_server_s_time_zone(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Kolkata"

    assert now_in() == (
        "2026-12-07 18:33 (Monday), Asia/Kolkata, UTC+05:30\nISO 8601: 2026-12-07T18:33:27+05:30"
    )
    assert now_in("") == now_in()


@time_machine.travel(WINTER, tick=False)
def test_a_zone_name_in_the_wrong_case_is_found() -> None:
    assert now_in("europe/paris").startswith("2026-12-07 14:03 (Monday), Europe/Paris, ")


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "Europe", "../../etc/passwd", "/etc/UTC"])
def test_an_unknown_zone_is_refused_by_name(name: str) -> None:
    with pytest.raises(ToolFailure) as refused:
        now_in(name)
    assert f"unknown time zone {name!r}" in str(refused.value)


async def test_the_datetime_tool_tells_the_time_now() -> None:
    result = await run_one("current_datetime", "")  # some models send no arguments at all

    assert result.ok and result.error == ""
    iso = result.content.split("ISO 8601: ")[1]
    told = datetime.datetime.fromisoformat(iso)
    assert abs(told - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(seconds=5)


# --- the knowledge base ---------------------------------------------------------------------

GUIDE = """# Orion guide

## Stopping an answer

Press Stop, or Esc, to end an answer at once. The text so far stays, marked stopped.

## Passwords

Change your password on the account page, under Security.
"""
PAYROLL = """# Payroll

## Salary bands

Salary bands are reviewed every April by the payroll committee.
"""


def ingest(name: str, text: str, audience: str = "everyone") -> Document:
    document = document_add(upload=upload_from_file(name, text.encode()), user=None)
    Document.objects.filter(pk=document.pk).update(audience=audience)
    document = document_ingest(document_id=document.pk)
    assert document.status == Document.Status.READY, document.error
    return document


def search_tool(arguments: dict[str, Any], context: ToolContext | None = None) -> str:
    return TOOLS["knowledge_search"].function(arguments, context or everyone())


@pytest.mark.django_db
def test_knowledge_search_numbers_passages_after_the_replys_own() -> None:
    ingest("guide.md", GUIDE)
    context = everyone()
    first = search_tool({"query": "password", "limit": 1}, context)
    again = search_tool({"query": "password", "limit": 1}, context)
    assert first.startswith("[1] ") and again == first  # the same passage, the same number
    assert len(context.passages) == 1


@pytest.mark.django_db
def test_knowledge_search_returns_numbered_passages_under_their_headings() -> None:
    ingest("guide.md", GUIDE)

    text = search_tool({"query": "how do I change my password?"})

    first, *others = text.split("\n\n")
    assert first == (
        "[1] guide › Orion guide › Passwords\n"
        "Change your password on the account page, under Security."
    )
    assert all(part.startswith(f"[{n}] ") for n, part in enumerate(others, start=2))


@pytest.mark.django_db
def test_knowledge_search_honours_the_limit() -> None:
    ingest("guide.md", GUIDE)
    ingest("more.md", "# More\n\n## Stop\n\nStop ends an answer.\n\n## Esc\n\nEsc stops too.\n")

    assert search_tool({"query": "stop answer", "limit": 1}).count("\n[") == 0
    assert search_tool({"query": "stop answer", "limit": 2.0}).startswith("[1] ")
    assert "[2] " in search_tool({"query": "stop answer", "limit": 2})
    assert "[3] " not in search_tool({"query": "stop answer", "limit": 2})


@pytest.mark.django_db
def test_knowledge_search_keeps_documents_from_those_who_may_not_see_them() -> None:
    ingest("payroll.md", PAYROLL, audience="staff")

    assert search_tool({"query": "salary bands"}) == "No passages found."
    assert "Salary bands are reviewed" in search_tool({"query": "salary bands"}, staff())


@pytest.mark.django_db
def test_knowledge_search_with_nothing_matching_says_so() -> None:
    ingest("guide.md", GUIDE)

    assert search_tool({"query": "volcanoes"}) == "No passages found."


@pytest.mark.django_db(transaction=True)
async def test_knowledge_search_runs_on_the_database_thread_through_the_runner() -> None:
    await sync_to_async(ingest)("guide.md", GUIDE)
    await sync_to_async(ingest)("payroll.md", PAYROLL, "staff")

    found, hidden = await tools_run(
        [
            call("knowledge_search", {"query": "stopping an answer"}, id="a"),
            call("knowledge_search", {"query": "salary bands"}, id="b"),
        ],
        enabled=ALL,
        context=everyone(),
    )

    assert found.ok and found.content.startswith("[1] guide › Orion guide › Stopping an answer")
    assert hidden.ok and hidden.content == "No passages found."
    assert [found.call.id, hidden.call.id] == ["a", "b"]


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
