"""The answer pipeline: the one public face of ``agents``. The chat imports from here only.

``answer_stream(history=...)`` turns a conversation into a streamed reply by running it
through the stages listed in ``runner`` (today: offline mode, generation). The chat sees
``TextDelta``s, then one ``AnswerDone``, or an ``AnswerError`` whose code ``error_text``
puts into words. Modules: ``events``, ``errors``, ``stages`` (the protocol), ``runner``,
one module per stage, ``status`` and ``titles``.
"""

from __future__ import annotations

from agents.pipeline.errors import AnswerError, error_text
from agents.pipeline.events import AnswerDone, TextDelta, Usage
from agents.pipeline.offline import OFFLINE_REPLY
from agents.pipeline.runner import answer_stream
from agents.pipeline.status import ModelStatus, model_status
from agents.pipeline.titles import TITLE_PROMPT, title_suggest

__all__ = [
    "OFFLINE_REPLY",
    "TITLE_PROMPT",
    "AnswerDone",
    "AnswerError",
    "ModelStatus",
    "TextDelta",
    "Usage",
    "answer_stream",
    "error_text",
    "model_status",
    "title_suggest",
]
