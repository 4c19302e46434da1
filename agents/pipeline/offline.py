"""Offline mode: with no model configured, every reply the rules cannot give says so."""

from __future__ import annotations

from agents.pipeline.events import AnswerDone, TextDelta
from agents.pipeline.stages import AnswerStream

OFFLINE_REPLY = (
    "Orion is running in **offline mode**: no language model is configured, so it cannot "
    "answer free-form questions yet. An administrator can connect one by setting "
    "`OPENAI_BASE_URL` (and `OPENAI_API_KEY`, `ORION_MODEL`)."
)

_TEXT = TextDelta(OFFLINE_REPLY)
_DONE = AnswerDone(
    provider="offline", model="", usage=None, cost=None, finish_reason="stop", answered_by="offline"
)


async def offline_reply() -> AnswerStream:
    yield _TEXT
    yield _DONE
