"""The calculator tool: arithmetic the model would otherwise get wrong, never ``eval``.

Hand-written over Python's ``ast`` rather than a library. The libraries on PyPI
(``simpleeval``, ``asteval``, ``evalidate``) evaluate a subset of *Python*: strings,
comparisons, attributes, subscripts, and in ``asteval``'s case statements and loops. Their
safety is a list of what they forbid, the kind of list that has needed sandbox-escape
fixes. Cutting one down to arithmetic means removing their node handlers and wrapping
every operator for the bounds below, which leaves little of the library. Here the only
code that runs is ``_eval``: a whitelist of node types (numbers, ``+ - * / // % **``,
unary signs, calls to the functions in ``FUNCTIONS``, the constants in ``CONSTANTS``);
every other node is refused by name.

Bounded so no expression can hold a thread: at most ``MAX_CHARS`` characters and
``MAX_DEPTH`` levels of nesting, and every number, given or computed, below
``10**MAX_DIGITS`` in size; a power is refused *before* it is computed when its result
would be larger (``9**9**9`` costs nothing).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from agents.tools.types import Tool, ToolContext, ToolFailure

MAX_CHARS = 200
# Deep enough for a sum of as many numbers as fit in MAX_CHARS ("1+2+...": a left-deep
# tree ~100 levels), shallow enough that the recursion stays far from Python's limit.
MAX_DEPTH = 100
MAX_DIGITS = 100
_LIMIT = 10**MAX_DIGITS
MAX_ROUND_DIGITS = 15
_DECIMALS = Context(prec=MAX_DIGITS + MAX_ROUND_DIGITS + 10)

Number = int | float

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise ToolFailure("square root of a negative number")
    return math.sqrt(x)


def _log(x: Number, base: Number | None = None) -> float:
    if x <= 0:
        raise ToolFailure("logarithm of zero or a negative number")
    if base is None:
        return math.log(x)
    if base <= 0 or base == 1:
        raise ToolFailure("a logarithm's base must be positive and not 1")
    return math.log(x, base)


def _log10(x: Number) -> float:
    if x <= 0:
        raise ToolFailure("logarithm of zero or a negative number")
    return math.log10(x)


def _round(x: Number, digits: Number | None = None) -> Number:
    """Halves away from zero, as people round (2.5 is 3), not Python's half to even; and
    from the number as written (2.675 is 2.68), not its binary approximation."""
    if digits is None:
        return int(Decimal(repr(x)).quantize(Decimal(1), ROUND_HALF_UP, _DECIMALS))
    if not isinstance(digits, int) or abs(digits) > MAX_ROUND_DIGITS:
        raise ToolFailure(f"round's digits must be a whole number up to {MAX_ROUND_DIGITS}")
    step = Decimal(1).scaleb(-digits)
    return float(Decimal(repr(x)).quantize(step, ROUND_HALF_UP, _DECIMALS))


def _floor(x: Number) -> int:
    return math.floor(x)


def _ceil(x: Number) -> int:
    return math.ceil(x)


def _exp(x: Number) -> float:
    return math.exp(x)


def _abs(x: Number) -> Number:
    return abs(x)


def _min(*xs: Number) -> Number:
    return min(xs)


def _max(*xs: Number) -> Number:
    return max(xs)


# name -> (function, fewest arguments, most arguments: None for any number)
FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int | None]] = {
    "sqrt": (_sqrt, 1, 1),
    "abs": (_abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (_min, 2, None),
    "max": (_max, 2, None),
    "floor": (_floor, 1, 1),
    "ceil": (_ceil, 1, 1),
    "log": (_log, 1, 2),
    "log10": (_log10, 1, 1),
    "exp": (_exp, 1, 1),
}

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}
# What people type, as Python writes it.
_TYPED = str.maketrans({"×": "*", "÷": "/", "^": "**", "−": "-", "·": "*"})
_THOUSANDS = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?!\d)")


def calculate(expression: str) -> str:
    """The value of ``expression`` as text: whole numbers in full, others to 12
    significant digits. Raises ``ToolFailure`` saying what it cannot compute."""
    text = expression.strip().rstrip("=").strip()
    if not text:
        raise ToolFailure("the expression is empty")
    if len(text) > MAX_CHARS:
        raise ToolFailure(f"the expression is longer than {MAX_CHARS} characters")
    text = text.translate(_TYPED)
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        if _THOUSANDS.search(text):
            raise ToolFailure(_NO_COMMAS) from None
        raise ToolFailure(
            "cannot read the expression: use numbers, + - * / // % ** (or ^), "
            "parentheses and the functions " + ", ".join(FUNCTIONS)
        ) from None
    return _format(_eval(tree.body, text, 0))


_NO_COMMAS = (
    "commas may only separate a function's arguments: write numbers without thousands "
    "separators or decimal commas (1000.5, not 1,000.5 or 1000,5)"
)


def _eval(node: ast.expr, text: str, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise ToolFailure(f"the expression is nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ToolFailure(f"only numbers are allowed, not {value!r}"[:120])
        return _checked(value)
    if isinstance(node, ast.BinOp):
        left = _eval(node.left, text, depth + 1)
        right = _eval(node.right, text, depth + 1)
        if isinstance(node.op, ast.Pow):
            return _checked(_power(left, right))
        operation = _BINARY.get(type(node.op))
        if operation is None:
            raise ToolFailure(f"the operator {_source(node, text)!r} is not allowed")
        try:
            return _checked(operation(left, right))
        except ZeroDivisionError:
            raise ToolFailure("division by zero") from None
        except OverflowError:
            raise _too_large() from None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        value = _eval(node.operand, text, depth + 1)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call):
        return _call(node, text, depth)
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise ToolFailure(
            f"unknown name {node.id!r}: the calculator knows only numbers, the constants "
            + ", ".join(CONSTANTS)
            + " and the functions "
            + ", ".join(FUNCTIONS)
        )
    if isinstance(node, ast.Attribute):
        raise ToolFailure("attribute access (a dot after a name) is not allowed")
    if isinstance(node, ast.Tuple):
        raise ToolFailure(_NO_COMMAS)
    raise ToolFailure(
        f"{_source(node, text)!r} is not arithmetic: use numbers, + - * / // % ** (or ^), "
        "parentheses and the functions " + ", ".join(FUNCTIONS)
    )


def _call(node: ast.Call, text: str, depth: int) -> Number:
    if not isinstance(node.func, ast.Name):
        if isinstance(node.func, ast.Attribute):
            raise ToolFailure("attribute access (a dot after a name) is not allowed")
        if isinstance(node.func, ast.Constant | ast.BinOp | ast.UnaryOp):
            raise ToolFailure("write multiplication with * : 2*(3+4), not 2(3+4)")
        raise ToolFailure(f"{_source(node.func, text)!r} is not a function the calculator has")
    name = node.func.id
    if name not in FUNCTIONS:
        raise ToolFailure(f"unknown function {name!r}: the calculator has " + ", ".join(FUNCTIONS))
    function, fewest, most = FUNCTIONS[name]
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ToolFailure(f"{name} takes plain numbers as its arguments")
    if not fewest <= len(node.args) <= (most or len(node.args)):
        wanted = {1: "one number", 2: "two numbers"}[fewest]
        wanted += "" if fewest == most else " or more" if most is None else " or two"
        raise ToolFailure(f"{name} takes {wanted}")
    args = [_eval(arg, text, depth + 1) for arg in node.args]
    try:
        return _checked(function(*args))
    except OverflowError:
        raise _too_large() from None
    except ValueError:
        raise ToolFailure(f"{name} is undefined for {_source(node, text)}") from None


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int) and exponent >= 0:
        # Estimate the size first: computing 9**387420489 would take minutes.
        if abs(base) > 1 and exponent * math.log10(abs(base)) >= MAX_DIGITS:
            raise _too_large()
        return base**exponent
    if base == 0 and exponent < 0:
        raise ToolFailure("division by zero")
    if base < 0 and not float(exponent).is_integer():
        raise ToolFailure("a negative number to a fractional power has no real value")
    try:
        return math.pow(base, exponent)
    except OverflowError:
        raise _too_large() from None


def _checked(value: Number) -> Number:
    if isinstance(value, float) and math.isnan(value):
        raise ToolFailure("the result is not a number")
    if not -_LIMIT < value < _LIMIT:  # also refuses inf
        raise _too_large()
    return value


def _too_large() -> ToolFailure:
    return ToolFailure(f"a number in the calculation has more than {MAX_DIGITS} digits")


def _format(value: Number) -> str:
    if isinstance(value, int):
        return str(value)
    text = f"{value:.12g}"
    return "0" if text == "-0" else text


def _source(node: ast.AST, text: str) -> str:
    return (ast.get_source_segment(text, node) or type(node).__name__)[:60]


def _calculator(arguments: dict[str, Any], context: ToolContext) -> str:
    return calculate(str(arguments.get("expression", "")))


TOOL = Tool(
    name="calculator",
    description=(
        "Compute an arithmetic expression exactly. Use it for any calculation rather than "
        "working it out yourself. Supports numbers, + - * / // % ** (or ^), parentheses, "
        "the constants pi and e, and the functions sqrt, abs, round(x[, digits]), min, max, "
        "floor, ceil, log(x[, base]) (natural by default), log10 and exp. "
        "Write 1000 rather than 1,000. Returns the value alone."
    ),
    parameters={
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_CHARS,
                "description": "The expression, such as (17.5 * 3) / 4 or sqrt(2) * 10^3.",
            }
        },
        "required": ["expression"],
        "additionalProperties": False,
    },
    function=_calculator,
    timeout=2.0,
    label="the calculator",
)
