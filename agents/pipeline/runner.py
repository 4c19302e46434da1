"""The runner: each reply goes through the stages below, in order, until one answers.

The list is data: adding a stage is adding its line. ``replies_prepare`` runs the
synchronous phase for a burst of replies (guard, cache, route); ``answer_stream`` the rest
for one reply, its output watched by the check stage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing

from django.utils.module_loading import import_string

from agents.pipeline.check import CheckStage
from agents.pipeline.config import PublishedPrompt, StaffConfig, staff_config
from agents.pipeline.errors import AnswerError
from agents.pipeline.events import AnswerDone, AnswerEvent, TextDelta
from agents.pipeline.records import RunRecord
from agents.pipeline.retrieve import KNOWLEDGE_PROMPT
from agents.pipeline.stages import AnswerStream, ReplyContext, Stage
from agents.providers import breakers_read, configured_provider

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = "chat.system"

STAGE_PATHS: tuple[str, ...] = (
    "agents.pipeline.guard.GuardStage",  # block prompt injection, flag the suspicious
    "agents.pipeline.cache.CacheStage",  # a repeated first question: the answer at once
    "agents.pipeline.route.RouteStage",  # staff's rules answer without a model
    "agents.pipeline.retrieve.RetrieveStage",  # knowledge-base passages for the question
    "agents.pipeline.tooling.ToolsStage",  # the tools the model is offered
    "agents.pipeline.generate.GenerateStage",  # the model (offline mode without one)
)


def stages_load(paths: Iterable[str]) -> tuple[Stage, ...]:
    """One instance of each stage class named by a dotted path."""
    return tuple(import_string(path)() for path in paths)


STAGES = stages_load(STAGE_PATHS)  # at import, so a wrong path fails at start-up
CHECK = CheckStage()


def replies_prepare(
    histories: list[list[dict[str, str]]],
    *,
    kind: str = "reply",
    system_prompt: PublishedPrompt | None = None,
    audiences: list[tuple[str, ...]] | None = None,
) -> list[ReplyContext]:
    """A context for each reply to ``histories`` (each oldest first, ending with the
    person's message), through the synchronous stages. Synchronous (database thread);
    never raises: a stage that fails is recorded and passed over. ``system_prompt``
    replaces the published prompt of its key (a preview of a draft); ``audiences``, one
    per history, says whose documents each asker may be answered from (documents for
    everyone by default)."""
    try:
        config = staff_config()
    except Exception:
        logger.exception("could not read staff configuration; answering without it")
        config = StaffConfig(token="")
    chain = config.providers or tuple(p for p in [configured_provider()] if p is not None)
    breakers = breakers_read(p.name for p in chain) if chain else {}
    knowledge_prompt = None
    if system_prompt is not None and system_prompt.key == KNOWLEDGE_PROMPT:
        knowledge_prompt, system_prompt = system_prompt, None
    if system_prompt is None:
        system_prompt = config.prompts.get(SYSTEM_PROMPT)
    contexts = []
    for index, history in enumerate(histories):
        run = RunRecord(kind=kind)
        if (labelled := knowledge_prompt or system_prompt) is not None:  # (a preview's own)
            run.prompt_version_id, run.prompt_label = labelled.version_id, labelled.label
        contexts.append(
            ReplyContext(
                history=history,
                provider=chain[0] if chain else None,
                providers=chain,
                breakers=breakers,
                system_prompt=system_prompt,
                run=run,
                audiences=audiences[index] if audiences is not None else ("everyone",),
                knowledge_prompt=knowledge_prompt,
            )
        )
    for stage in STAGES:
        pending = [c for c in contexts if c.ready is None]
        if not pending:
            break
        began = time.perf_counter()
        try:
            stage.prepare(pending, config)
        except Exception:
            logger.exception("stage %s failed; passing its replies on", stage.name)
            for context in pending:
                if not any(s.name == stage.name for s in context.run.steps):
                    context.run.step(stage.name, began, "error")
    return contexts


async def first_answer(stages: Iterable[Stage], context: ReplyContext) -> AnswerStream:
    """The answer from the first of ``stages`` that gives one."""
    for stage in stages:
        stream = await stage.answer(context)
        if stream is not None:
            return stream
    raise AnswerError("internal")  # the last stage always answers; reaching here is a bug


async def _ready_reply(context: ReplyContext) -> AnswerStream:
    ready = context.ready
    assert ready is not None  # noqa: S101
    context.run.answered_by = ready.answered_by
    yield TextDelta(ready.text)
    yield AnswerDone(ready.provider, ready.model, None, None, "stop", ready.answered_by)


async def answer_stream(context: ReplyContext) -> AsyncGenerator[AnswerEvent, None]:
    """Stream the reply of a prepared ``context``: ``TextDelta``s, then exactly one
    ``AnswerDone``. Raises ``AnswerError``. ``context.run`` holds the record at the end."""
    run = context.run
    try:
        if context.ready is not None:
            stream = _ready_reply(context)
        else:
            stream = await first_answer(STAGES, context)
        async with aclosing(CHECK.watch(context, stream)) as events:
            async for event in events:
                if run.ttft_ms is None and isinstance(event, TextDelta):
                    run.first_text()
                yield event
    finally:
        run.end()
