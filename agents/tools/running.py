"""Running a turn's tool calls: in parallel, each bounded, none able to break the reply.

Whatever the model sends (a tool that does not exist or that staff turned off, arguments
that are not JSON or break the tool's schema) and whatever a tool does (raise, hang),
the call becomes a ``ToolResult`` whose ``content`` tells the model what went wrong in
words it can act on: call again with other arguments, or answer without the tool. The
reply goes on either way.

Tools are synchronous. Those that read the database run on Django's database thread, as
ORM code must; the rest on a small pool of their own, so a slow tool never takes the
threads the event loop needs for other work (DNS look-ups, ``to_thread``). A tool past
its timeout is abandoned, not stopped (Python cannot stop a thread): its result is
dropped when it comes, and the tools' own bounds (the calculator's sizes, the search's
timeouts) keep that short. Until then it keeps its thread; for a database tool that is
the thread every ``sync_to_async`` of the process shares, hence those bounds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from agents.tools.registry import TOOLS
from agents.tools.types import Tool, ToolCall, ToolContext, ToolFailure, ToolResult

logger = logging.getLogger(__name__)

MAX_RESULT_CHARS = 8000
# Worker threads for tools that do not read the database: a turn's calls (a model sends a
# handful) across the replies of one process at once; more wait their turn.
POOL_SIZE = 8
_POOL = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="orion-tool")


async def tools_run(
    calls: Sequence[ToolCall], *, enabled: Collection[str], context: ToolContext
) -> list[ToolResult]:
    """Run a turn's ``calls`` at once, each under its tool's timeout; results in the calls'
    order. Never raises for a bad call or a failing tool (see the module's docstring)."""
    return list(await asyncio.gather(*(_run_one(call, enabled, context) for call in calls)))


async def _run_one(call: ToolCall, enabled: Collection[str], context: ToolContext) -> ToolResult:
    started = time.perf_counter()

    def result(content: str, error: str = "") -> ToolResult:
        content = _cut(content)
        duration_ms = (time.perf_counter() - started) * 1000
        return ToolResult(call, not error, content, error, duration_ms, len(content))

    tool = TOOLS.get(call.name)
    if tool is None:
        offered = ", ".join(name for name in TOOLS if name in enabled) or "none"
        return result(
            f"Error: there is no tool called {call.name[:64]!r}. The tools are: {offered}.",
            "unknown_tool",
        )
    if call.name not in enabled:
        return result(
            f"Error: the tool {tool.name} is turned off here. Answer without it.", "disabled"
        )
    arguments = _arguments(call.arguments, tool)
    if isinstance(arguments, str):
        return result(f"Error: {arguments} Call {tool.name} again, fixed.", "bad_arguments")
    try:
        outcome = await asyncio.wait_for(_guarded(tool, arguments, context), tool.timeout)
    except TimeoutError:
        logger.warning("tool %s timed out after %s s", tool.name, tool.timeout)
        return result(
            f"Error: {tool.name} gave no result within {tool.timeout:g} seconds. "
            "Try a simpler request, or answer without it.",
            "timeout",
        )
    if isinstance(outcome, ToolFailure):
        return result(f"Error: {outcome}", "failed")
    if isinstance(outcome, Exception):
        return result(f"Error: {tool.name} failed unexpectedly. Answer without it.", "failed")
    return result(outcome)


async def _guarded(tool: Tool, arguments: dict[str, Any], context: ToolContext) -> str | Exception:
    """The tool's text, or the exception it raised (returned, so that a tool raising
    ``TimeoutError`` itself is a failure, not a timeout)."""
    try:
        if tool.uses_database:
            text = await sync_to_async(tool.function, thread_sensitive=True)(arguments, context)
        else:
            loop = asyncio.get_running_loop()
            text = await loop.run_in_executor(_POOL, tool.function, arguments, context)
    except ToolFailure as exc:
        return exc
    except Exception as exc:
        logger.exception("tool %s failed", tool.name)
        return exc
    if not isinstance(text, str):
        logger.error("tool %s returned %s, not text", tool.name, type(text).__name__)
        return TypeError("not text")
    return text


def _arguments(raw: str, tool: Tool) -> dict[str, Any] | str:
    """The call's arguments as an object that fits ``tool``'s schema, or what is wrong
    with them, in words. Empty text is no arguments (some models send it for a tool
    without required ones)."""
    try:
        arguments = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, RecursionError) as exc:
        where = ""
        if isinstance(exc, json.JSONDecodeError):
            where = f" ({exc.msg} at character {exc.pos})"
        return f"the arguments are not valid JSON{where}: send one JSON object."
    if not isinstance(arguments, dict):
        return f"the arguments must be a JSON object, not {_json_type(arguments)}."
    error = best_match(Draft202012Validator(tool.parameters).iter_errors(arguments))
    if error is not None:
        return _schema_problem(error)
    return arguments


def _schema_problem(error: ValidationError) -> str:
    """Which argument is wrong and why, without echoing a long value back."""
    path = "/".join(str(part) for part in error.absolute_path)
    problem = {
        "maxLength": f"is longer than {error.validator_value} characters",
        "minLength": f"is shorter than {error.validator_value} character(s)",
        "maximum": f"is more than {error.validator_value}",
        "minimum": f"is less than {error.validator_value}",
        "type": f"must be of type {error.validator_value}, not {_json_type(error.instance)}",
    }.get(str(error.validator))
    if path and problem:
        return f"argument {path!r} {problem}."
    message = error.message if len(error.message) <= 200 else error.message[:200] + "…"
    return f"argument {path!r}: {message}." if path else f"{message}."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _cut(content: str) -> str:
    """At most MAX_RESULT_CHARS characters, the note that says so included."""
    if len(content) <= MAX_RESULT_CHARS:
        return content
    note = f"\n[… cut: the result had {len(content)} characters; this is the beginning]"
    return content[: MAX_RESULT_CHARS - len(note)] + note
