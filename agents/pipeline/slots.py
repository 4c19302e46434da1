"""The retrieval and tool stages' places in the pipeline, filled by the knowledge base and
the tool registry. Until then each records that it had nothing to do."""

from __future__ import annotations

import time

from agents.pipeline.config import StaffConfig
from agents.pipeline.stages import ReplyContext


class _Slot:
    name = ""

    def prepare(self, contexts: list[ReplyContext], config: StaffConfig) -> None:
        return None

    async def answer(self, context: ReplyContext) -> None:
        context.run.step(self.name, time.perf_counter(), "skip", {"reason": "not_configured"})
        return None


class RetrieveStage(_Slot):
    """Knowledge-base passages for the prompt (none configured yet)."""

    name = "retrieve"


class ToolsStage(_Slot):
    """Tool calls the model asks for (no tools registered yet)."""

    name = "tools"
