"""The answer pipeline: the one public face of ``agents``. The chat imports from here only.

A burst of replies is prepared at once on the database thread (``replies_prepare``: the
guard, the cache and staff's rules may answer there), then each reply is streamed
(``answer_stream``: tools, the model, the output check; retrieval is prepared with the
burst). The chat sees ``TextDelta``s, then one ``AnswerDone``, or an ``AnswerError``
whose code ``error_text`` puts into words; the context's ``run`` records every stage, and
``runs_store`` writes the records of a burst with the replies' final update. Modules:
``stages`` (the protocol), ``runner``, one module per stage, ``config`` (staff's prompts,
rules and patterns), ``records``, ``store``, ``events``, ``errors``, ``status``,
``titles``, ``summaries``.
"""

from __future__ import annotations

from agents.models import audience_levels  # (whose documents an asker may be answered from)
from agents.pipeline.config import PublishedPrompt, staff_config
from agents.pipeline.errors import AnswerError, error_text
from agents.pipeline.events import AnswerDone, TextDelta, Usage
from agents.pipeline.generate import model_input
from agents.pipeline.guard import Verdict, guard_assess
from agents.pipeline.memory import history_fit, summary_write, with_summary
from agents.pipeline.notices import answered_by_text, tools_used_text
from agents.pipeline.offline import OFFLINE_REPLY
from agents.pipeline.records import RunRecord
from agents.pipeline.retrieve import reply_sources
from agents.pipeline.runner import answer_stream, replies_prepare
from agents.pipeline.stages import ReplyContext
from agents.pipeline.status import ModelStatus, model_status
from agents.pipeline.store import runs_store
from agents.pipeline.summaries import fallback_path, prompt_version_link
from agents.pipeline.titles import title_suggest

__all__ = [
    "fallback_path",
    "prompt_version_link",
    "OFFLINE_REPLY",
    "AnswerDone",
    "AnswerError",
    "ModelStatus",
    "PublishedPrompt",
    "ReplyContext",
    "RunRecord",
    "TextDelta",
    "Usage",
    "Verdict",
    "answer_stream",
    "audience_levels",
    "answered_by_text",
    "error_text",
    "guard_assess",
    "history_fit",
    "model_input",
    "model_status",
    "replies_prepare",
    "reply_sources",
    "runs_store",
    "staff_config",
    "summary_write",
    "title_suggest",
    "tools_used_text",
    "with_summary",
]
