"""Retrieval: knowledge-base passages for each question, found for a whole burst at once.

In the prepare phase (database thread), every reply still to be answered by a model gets
the best passages its asker may see (``ReplyContext.audiences``), found in one batch
(``knowledge_search_many``: one embeddings call, the words ranked in memory for a small
knowledge base or by each question's keyword query, one read of the rows). A knowledge
base without documents costs nothing: the snapshot's version says so and the stage skips.
The passages go to the model under the ``chat.knowledge`` prompt
(``agents.pipeline.generate.knowledge_text``); the reply's sources are the passages it
cites (``reply_sources``).

The question searched is the person's last message; a short follow-up ("and on a
phone?") is searched together with their message before it, which says what it is about.
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.conf import settings

from agents.knowledge.citations import passages_fit, sources_cited
from agents.knowledge.search import knowledge_search_many
from agents.pipeline.config import StaffConfig
from agents.pipeline.stages import ReplyContext

KNOWLEDGE_PROMPT = "chat.knowledge"
# A question with fewer words of three letters or more than this is a follow-up.
FOLLOW_UP_WORDS = 4
_WORD = re.compile(r"\w{3,}")


def retrieval_query(history: list[dict[str, str]]) -> str:
    """What to search for: the last message, with the person's previous one if it is a
    short follow-up."""
    question = history[-1]["content"] if history else ""
    if len(_WORD.findall(question)) >= FOLLOW_UP_WORDS:
        return question
    earlier = next((m["content"] for m in reversed(history[:-1]) if m.get("role") == "user"), "")
    return f"{earlier}\n{question}" if earlier else question


class RetrieveStage:
    """Gives each reply's context the passages found for its question."""

    name = "retrieve"

    def prepare(self, contexts: list[ReplyContext], config: StaffConfig) -> None:
        began = time.perf_counter()
        wanted: list[ReplyContext] = []
        for context in contexts:
            if config.knowledge_version == "0":
                context.run.step(self.name, began, "skip", {"reason": "no_documents"})
            elif context.provider is None:
                context.run.step(self.name, began, "skip", {"reason": "offline"})
            else:
                wanted.append(context)
        if not wanted:
            return
        found = knowledge_search_many(
            [retrieval_query(c.history) for c in wanted],
            limit=settings.ORION_RETRIEVAL_PASSAGES,
            audiences_each=[c.audiences for c in wanted],
            version=config.knowledge_version,
        )
        prompt = config.prompts.get(KNOWLEDGE_PROMPT)
        for context, hits in zip(wanted, found, strict=True):
            context.passages = tuple(passages_fit(hits, settings.ORION_RETRIEVAL_MAX_CHARS))
            if context.knowledge_prompt is None:  # (a preview of that prompt brings its own)
                context.knowledge_prompt = prompt
            detail = {"chunks": [hit.chunk_id for hit in context.passages]}
            context.run.step(self.name, began, "found" if hits else "none", detail)

    async def answer(self, context: ReplyContext) -> None:
        return None


def reply_sources(context: ReplyContext, text: str) -> list[dict[str, Any]]:
    """The sources to show under a reply with ``text``: those of a ready answer (a cached
    one) or of the ladder's answer (the knowledge base's extract), else the passages the
    model's answer cites."""
    if context.ready is not None:
        return list(context.ready.sources)
    if context.sources is not None:
        return context.sources
    if context.run.answered_by != "model":
        return []
    return sources_cited(text, context.passages)
