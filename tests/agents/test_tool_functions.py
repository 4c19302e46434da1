"""The tools' own functions: the calculator's arithmetic and refusals, and the clock."""

from __future__ import annotations

import ast
import builtins
import datetime
import time
from typing import Any

import pytest
import time_machine

from agents.tools import ToolFailure
from agents.tools.calculator import calculate
from agents.tools.clock import now_in
from tests.agents.test_tools import run_one

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
