"""The degradation ladder: what answers when every provider has failed.

Tiers, in order (declared as data in ``TIERS``): a stored answer to the same first
question, under whichever prompt or model gave it; an extract of the passages found for
the question, when they are about it ("The model is unavailable right now; here is what
the knowledge base says…", with their sources); an honest static reply, which is the failure itself,
shown with its reason and Retry. A reply that had already shown text keeps it and fails
with Retry: nothing replaces words a person has read. The tier used is recorded as a
``degrade`` step and as the run's ``answered_by``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async

from agents.knowledge.citations import EXTRACT_PASSAGES, knowledge_extract, sources_all
from agents.knowledge.keywords import STOP_WORDS, query_words, text_words
from agents.pipeline.cache import answer_for_question
from agents.pipeline.errors import AnswerError
from agents.pipeline.events import AnswerDone, TextDelta
from agents.pipeline.stages import AnswerStream, ReadyAnswer, ReplyContext
from agents.providers import ProviderError


async def _from_cache(context: ReplyContext) -> ReadyAnswer | None:
    if not context.first_turn or context.flagged:  # an answer must not depend on context
        return None
    if context.run.kind != "reply":  # a preview shows what its prompt says, never a stand-in
        return None
    hit = await sync_to_async(answer_for_question)(context.question, context.audiences)
    if hit is None:
        return None
    tier, entry = hit
    context.run.cache_tier = tier
    return ReadyAnswer(entry["answer"], "cache", entry["provider"], entry["model"],
                       tuple(entry.get("sources") or ()))  # fmt: skip


async def _from_knowledge(context: ReplyContext) -> ReadyAnswer | None:
    """The best passages found for the question, shown as an extract, when they are about
    it: most of the question's words appear in the best one."""
    if context.run.kind != "reply" or not context.passages:
        return None
    if not passage_relevant(context.question, context.passages[0].text):
        return None
    shown = context.passages[:EXTRACT_PASSAGES]
    return ReadyAnswer(knowledge_extract(shown), "knowledge", sources=tuple(sources_all(shown)))


def passage_relevant(question: str, passage: str) -> bool:
    """Whether at least half of the question's words (not the common ones) are in the
    passage, a word matching another that starts with its first five letters ("stopping"
    and "stopped")."""
    words = {w[:5] for w in query_words(question) if len(w) > 2 and w not in STOP_WORDS}
    if not words:
        return False
    present = {w[:5] for w in text_words(passage)}  # (all of them: a passage is long)
    return len(words & present) * 2 >= len(words)


TIERS: tuple[tuple[str, Callable[[ReplyContext], Awaitable[ReadyAnswer | None]]], ...] = (
    ("cache", _from_cache),
    ("knowledge", _from_knowledge),
)


async def degrade(context: ReplyContext, failure: ProviderError | None, shown: str) -> AnswerStream:
    """Answer from the first tier that can, else raise the failure as an ``AnswerError``."""
    run = context.run
    code = failure.code if failure is not None else "unavailable"
    began = time.perf_counter()
    if not shown:
        for name, tier in TIERS:
            answer = await tier(context)
            if answer is not None:
                run.answered_by, run.provider, run.model = answer.answered_by, "", ""
                context.sources = list(answer.sources)
                run.step("degrade", began, name, {"after": code})
                yield TextDelta(answer.text)
                yield AnswerDone(answer.provider, answer.model, None, None, "stop",
                                 answer.answered_by)  # fmt: skip
                return
        run.answered_by = "static"
    run.step("degrade", began, "static" if not shown else "partial", {"after": code})
    raise AnswerError(code)
