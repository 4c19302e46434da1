"""The registry: every tool Orion has, by name, in the order the model is offered them.

Staff turn tools on and off (the runner's ``enabled``); this is what exists at all. A new
tool is one module with a ``TOOL`` and one line here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agents.tools import calculator, clock, knowledge
from agents.tools.types import Tool

TOOLS: dict[str, Tool] = {tool.name: tool for tool in (calculator.TOOL, clock.TOOL, knowledge.TOOL)}


def tool_specs(names: Iterable[str]) -> list[dict[str, Any]]:
    """OpenAI ``tools`` entries for the registered tools among ``names``, in registry
    order (names not registered are left out)."""
    wanted = set(names)
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for name, tool in TOOLS.items()
        if name in wanted
    ]
