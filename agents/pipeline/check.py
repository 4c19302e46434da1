"""The output check: an answer longer than ``ORION_MAX_REPLY_CHARS`` is cut there and its
model request closed, so a runaway reply neither fills the page nor keeps costing."""

from __future__ import annotations

import time
from contextlib import aclosing

from django.conf import settings

from agents.pipeline.events import AnswerDone, TextDelta
from agents.pipeline.stages import AnswerStream, ReplyContext


class CheckStage:
    name = "check"

    async def watch(self, context: ReplyContext, stream: AnswerStream) -> AnswerStream:
        """``stream`` as it goes, cut at the length cap; records the check when it ends."""
        cap = settings.ORION_MAX_REPLY_CHARS
        seen = 0
        outcome = "interrupted"
        began = time.perf_counter()
        try:
            async with aclosing(stream):
                async for event in stream:
                    if isinstance(event, TextDelta):
                        if seen + len(event.text) > cap:
                            yield TextDelta(event.text[: cap - seen])
                            seen = cap
                            outcome = "truncated"
                            run = context.run
                            yield AnswerDone(run.provider, run.model, None, None, "length",
                                             run.answered_by or "model")  # fmt: skip
                            return
                        seen += len(event.text)
                    elif isinstance(event, AnswerDone):
                        outcome = "ok" if outcome == "interrupted" else outcome
                    yield event
        finally:
            context.run.step(self.name, began, outcome, {"chars": seen, "cap": cap})
