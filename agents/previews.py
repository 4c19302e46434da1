"""A prompt version answering a sample question, before anyone chats with it.

The question goes through the real pipeline (guard, rules, the provider chain, the
output check) with the version as its prompt, never through the answer cache; the answer
is streamed as JSON lines and recorded as a ``Run`` of kind ``preview`` (no conversation).

Lines: ``{"delta": text}`` while the answer arrives, then one ``{"done": true, ...}`` with
what answered it, or ``{"error": words, "code": code}`` (the words meant for staff).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from agents.models import PromptVersion
from agents.pipeline import AnswerDone, AnswerError, TextDelta, answer_stream, replies_prepare
from agents.pipeline.config import PublishedPrompt
from agents.pipeline.stages import ReplyContext
from agents.pipeline.store import runs_store
from agents.provider_checks import failure_words

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000


def preview_question_clean(question: str) -> str:
    question = question.strip()
    if not question:
        raise ValidationError("Type a sample question to preview the prompt with.")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValidationError(
            f"The sample question is {len(question):,} characters long; at most "
            f"{MAX_QUESTION_CHARS:,}."
        )
    return question


def preview_prepare(*, version: PromptVersion, question: str) -> ReplyContext:
    """The prepared reply of ``version`` to ``question`` (synchronous: database thread)."""
    prompt = PublishedPrompt.of(version)
    history = [{"role": "user", "content": question}]
    [context] = replies_prepare([history], kind="preview", system_prompt=prompt)
    return context


def _line(payload: dict[str, object]) -> bytes:
    return (json.dumps(payload) + "\n").encode()


async def preview_lines(context: ReplyContext) -> AsyncIterator[bytes]:
    """Stream ``context``'s answer as JSON lines and record its run at the end."""
    began = time.perf_counter()
    done: AnswerDone | None = None
    outcome, code = "complete", ""
    try:
        async with aclosing(answer_stream(context)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    yield _line({"delta": event.text})
                elif isinstance(event, AnswerDone):
                    done = event
    except AnswerError as exc:
        outcome, code = "failed", exc.code
        yield _line({"error": failure_words(exc.code), "code": exc.code})
    except BaseException:  # the page went away (or a bug): record what there is, then go
        await _record(context, "stopped", "stopped")
        raise
    await _record(context, outcome, code)
    if done is not None:
        yield _line({
            "done": True, "answered_by": done.answered_by, "provider": done.provider,
            "model": done.model, "ms": round((time.perf_counter() - began) * 1000),
            "tokens_out": done.usage.tokens_out if done.usage else None,
        })  # fmt: skip


async def _record(context: ReplyContext, outcome: str, code: str) -> None:
    try:
        await sync_to_async(runs_store)(finished=[(None, context.run, outcome, code)])
    except Exception:
        logger.warning("preview run not recorded", exc_info=True)
