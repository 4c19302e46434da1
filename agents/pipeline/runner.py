"""The runner: each reply goes through the stages below, in order, until one answers.

The list is data: adding a stage is adding its line. Later stages (guard, cache, route,
retrieve, tools, check) join it here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing

from django.utils.module_loading import import_string

from agents.pipeline.errors import AnswerError
from agents.pipeline.events import AnswerEvent
from agents.pipeline.stages import AnswerStream, ReplyContext, Stage
from agents.providers import configured_provider

STAGE_PATHS: tuple[str, ...] = (
    "agents.pipeline.offline.OfflineStage",  # no model configured: say so
    "agents.pipeline.generate.GenerateStage",  # stream the answer from the model
)


def stages_load(paths: Iterable[str]) -> tuple[Stage, ...]:
    """One instance of each stage class named by a dotted path."""
    return tuple(import_string(path)() for path in paths)


STAGES = stages_load(STAGE_PATHS)  # at import, so a wrong path fails at start-up


async def first_answer(stages: Iterable[Stage], context: ReplyContext) -> AnswerStream:
    """The answer from the first of ``stages`` that gives one."""
    for stage in stages:
        stream = await stage.answer(context)
        if stream is not None:
            return stream
    raise AnswerError("internal")  # the last stage always answers; reaching here is a bug


async def answer_stream(*, history: list[dict[str, str]]) -> AsyncGenerator[AnswerEvent, None]:
    """Stream the reply to ``history`` (oldest first, ending with the person's message):
    ``TextDelta``s, then exactly one ``AnswerDone``. Raises ``AnswerError``."""
    context = ReplyContext(history=history, provider=configured_provider())
    async with aclosing(await first_answer(STAGES, context)) as stream:
        async for event in stream:
            yield event
