"""Tools the model may call while it answers: a calculator, the date, the knowledge base.

Modules: ``types`` (the tool, its call and its result), ``calculator``, ``clock`` and
``knowledge`` (one tool each), ``registry`` (``TOOLS`` and their specs for the model),
``running`` (a turn's calls in parallel, each bounded, none able to break the reply).
"""

from __future__ import annotations

from agents.tools.registry import TOOLS, tool_specs
from agents.tools.running import MAX_RESULT_CHARS, tools_run
from agents.tools.types import Tool, ToolCall, ToolContext, ToolFailure, ToolResult

__all__ = [
    "MAX_RESULT_CHARS",
    "TOOLS",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolFailure",
    "ToolResult",
    "tool_specs",
    "tools_run",
]
