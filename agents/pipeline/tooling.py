"""Tools: which the model is offered, and one round of the calls it asks for.

In the prepare phase, every reply a model will answer is offered the tools staff left
enabled (``StaffConfig.tools``). While it answers (``agents.pipeline.generate``), a turn
that ends in tool calls runs them all in parallel (``agents.tools.tools_run``: each under
its timeout, a bad call an error message for the model, never a crash), records each as a
``tool`` step, and hands the results back for the next turn. After
``ORION_TOOL_ROUNDS`` rounds, or once the reply has cost ``ORION_TOOL_COST_CAP``, the
model is asked once more without tools and must answer with what it has.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings

from agents.pipeline.config import StaffConfig
from agents.pipeline.stages import ReplyContext
from agents.providers import ToolCallRequest
from agents.tools import ToolContext, tools_run

ARGUMENTS_KEPT = 500  # characters of a call's arguments kept in its step


class ToolsStage:
    """Offers the enabled tools to every reply a model will answer."""

    name = "tools"

    def prepare(self, contexts: list[ReplyContext], config: StaffConfig) -> None:
        began = time.perf_counter()
        for context in contexts:
            if context.provider is None or not config.tools:
                reason = "offline" if context.provider is None else "none_enabled"
                context.run.step(self.name, began, "skip", {"reason": reason})
                continue
            context.tools = config.tools
            context.run.step(self.name, began, "offered", {"tools": list(config.tools)})

    async def answer(self, context: ReplyContext) -> None:
        return None


def tools_still_offered(context: ReplyContext, rounds: int) -> bool:
    """Whether the model may call tools again after ``rounds`` rounds."""
    cap = Decimal(str(settings.ORION_TOOL_COST_CAP))
    return rounds < settings.ORION_TOOL_ROUNDS and (not cap or context.run.cost < cap)


async def tool_round(
    context: ReplyContext, requests: Sequence[ToolCallRequest], text: str
) -> list[dict[str, Any]]:
    """Run a turn's tool calls; the messages that tell the model what it asked and what
    came back (its turn, then one ``tool`` message per call, in order)."""
    began = time.perf_counter()
    found = ToolContext(audiences=context.audiences, passages=list(context.passages))
    results = await tools_run(requests, enabled=context.tools, context=found)
    context.passages = tuple(found.passages)  # with those knowledge_search added
    for result in results:
        name = result.call.name
        detail = {"tool": name[:64], "arguments": result.call.arguments[:ARGUMENTS_KEPT],
                  "result_chars": result.result_chars}  # fmt: skip
        context.run.step("tool", began, "ok" if result.ok else result.error, detail,
                         ended=began + result.duration_ms / 1000)  # fmt: skip
        if result.ok and name not in context.tools_used:
            context.tools_used.append(name)
    asked = {
        "role": "assistant",
        "content": text,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in requests
        ],
    }
    answers = [{"role": "tool", "tool_call_id": r.call.id, "content": r.content} for r in results]
    return [asked, *answers]
