"""What tools, the registry and the runner hand each other.

A tool's function is synchronous on purpose: the runner puts it on a worker thread (or on
Django's database thread) and bounds it with a timeout, so a tool never has to know about
the event loop, and a slow one never holds up the reply's stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.knowledge.types import Hit
from agents.providers.events import ToolCallRequest


class ToolFailure(Exception):
    """Why a tool could not answer, in words the model can act on ("division by zero").

    The runner sends it back as ``Error: <message>``; any other exception is a bug and the
    model only hears that the tool failed.
    """


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who is asking, as far as a tool needs to know, and what the reply has read."""

    audiences: tuple[str, ...] = ("everyone",)  # which knowledge-base documents they may see
    # The reply's passages, numbered from 1 in this order: those retrieved for the
    # question, then those knowledge_search finds (appended), so a citation [n] means one
    # passage whichever way it was found.
    passages: list[Hit] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str  # what the model calls it: "calculator"
    description: str  # sent to the model: when to use it and what it returns
    parameters: dict[str, Any]  # JSON schema (type object) of the arguments
    # Synchronous; returns the result text for the model; raises ToolFailure for an
    # error the model should hear about.
    function: Callable[[dict[str, Any], ToolContext], str]
    timeout: float = 5.0  # seconds
    label: str = ""  # short words for the page: "calculator", "the knowledge base"
    # Run on Django's database thread (sync_to_async thread_sensitive=True), as ORM code
    # must, instead of on a worker thread.
    uses_database: bool = False


# A call the model asked for (id, name, and its arguments' JSON text as sent, perhaps
# malformed): the provider's own record of it, run as it comes.
ToolCall = ToolCallRequest


@dataclass(frozen=True, slots=True)
class ToolResult:
    call: ToolCall
    ok: bool
    # The ``tool`` message the model reads: the result, or "Error: ..." it can act on.
    content: str
    # "" when ok, else one of: unknown_tool, disabled, bad_arguments, failed, timeout.
    error: str
    duration_ms: float
    result_chars: int  # len(content)
