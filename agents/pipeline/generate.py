"""Generation: the answer streamed from the provider chain (offline mode without one).

Providers are tried in order. One whose circuit breaker is open is skipped at once; one
that fails before its first token was already retried under the retry policy and gives
way to the next. One that fails **after** text was shown gives way too, and the next
continues the same message from the text already shown (sent as the start of the
assistant's reply), so the person sees one message, nothing repeated. When every provider
has failed, the degradation ladder answers (``agents.pipeline.ladder``).

A provider's answer may take several turns: a turn that ends in tool calls has them run
(``agents.pipeline.tooling``) and the model goes on with their results, within the round
and cost limits. Every turn is a ``generate`` step with its tokens and cost, a failed or
stopped one included: estimated (and marked so) where the provider sent no usage.
"""

from __future__ import annotations

import time
from contextlib import aclosing
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from agents.knowledge.citations import passages_block, sources_cited
from agents.pipeline.config import PublishedPrompt
from agents.pipeline.events import AnswerDone, TextDelta
from agents.pipeline.ladder import degrade
from agents.pipeline.offline import offline_reply
from agents.pipeline.records import CachePut
from agents.pipeline.stages import AnswerStream, ReplyContext
from agents.pipeline.tooling import tool_round, tools_still_offered
from agents.providers import (
    HALF_OPEN,
    OPEN,
    ProviderConfig,
    ProviderError,
    StreamEnd,
    Usage,
    breaker_failure,
    breaker_success,
    breaker_trial,
    stream_chat,
    usage_cost,
)
from agents.tools import tool_specs

CHARS_PER_TOKEN = 4  # for estimating what a call used when the provider did not say
# Failures that say nothing about the provider's health (one person's over-long
# conversation): they do not count towards opening its breaker.
NOT_THE_PROVIDERS_FAULT = frozenset({"bad_request"})


class GenerateStage:
    """Answers every reply that reaches it."""

    name = "generate"

    def prepare(self, contexts: list[ReplyContext], config: object) -> None:
        return None

    async def answer(self, context: ReplyContext) -> AnswerStream:
        if context.provider is None:
            context.run.answered_by = "offline"
            context.run.step(self.name, time.perf_counter(), "offline")
            return offline_reply()
        return _chain(context)


def model_input(
    history: list[dict[str, str]], system_prompt: PublishedPrompt | None, knowledge: str = ""
) -> list[dict[str, str]]:
    """The messages sent to the model: the system prompt (and the question's passages
    under it), then the conversation."""
    system = "\n\n".join(
        part for part in (system_prompt.rendered() if system_prompt else "", knowledge) if part
    )
    if not system:
        return list(history)
    return [{"role": "system", "content": system}, *history]


def knowledge_text(context: ReplyContext) -> str:
    """The ``chat.knowledge`` prompt with the passages found for the question (nothing
    when none were found)."""
    if not context.passages:
        return ""
    block = passages_block(context.passages)
    prompt = context.knowledge_prompt
    if prompt is None:
        return block
    if "{passages}" not in prompt.text:  # (the admin refuses such a version)
        return f"{prompt.rendered()}\n\n{block}"
    return prompt.rendered(passages=block)


def usage_estimate(messages: list[dict[str, Any]], answer_chars: int) -> Usage:
    chars_in = sum(len(m.get("content") or "") for m in messages)
    return Usage(chars_in // CHARS_PER_TOKEN + 1, -(-answer_chars // CHARS_PER_TOKEN))


async def _chain(context: ReplyContext) -> AnswerStream:
    base = model_input(context.history, context.system_prompt, knowledge_text(context))
    shown: list[str] = []
    failure: ProviderError | None = None
    now = time.time()
    for index, config in enumerate(context.providers):
        state = context.breakers.get(config.name)
        phase = state.phase(now) if state is not None else "closed"
        if phase == OPEN or (
            phase == HALF_OPEN and not await sync_to_async(breaker_trial)(config.name)
        ):
            context.run.step("generate", time.perf_counter(), "skipped",
                             {"provider": config.name, "breaker": "open"})  # fmt: skip
            continue
        resumed = "".join(shown)
        messages = [*base, {"role": "assistant", "content": resumed}] if resumed else base
        attempt = _attempt(context, config, messages, resumed, cacheable=index == 0)
        try:
            async with aclosing(attempt):
                async for event in attempt:
                    if isinstance(event, TextDelta):
                        shown.append(event.text)
                    yield event
        except ProviderError as exc:
            failure = exc
            if exc.code not in NOT_THE_PROVIDERS_FAULT:
                await sync_to_async(breaker_failure)(config.name)
            continue
        if state is not None and (state.failures or state.opened_at is not None):
            await sync_to_async(breaker_success)(config.name)
        return
    async for event in degrade(context, failure, "".join(shown)):
        yield event


async def _attempt(
    context: ReplyContext,
    config: ProviderConfig,
    messages: list[dict[str, Any]],
    resumed: str,
    *,
    cacheable: bool,
) -> AnswerStream:
    """One provider's answer, over as many turns as its tool calls take; raises
    ``ProviderError``. A continuation that starts over from the beginning has what was
    already shown cut off its front."""
    run = context.run
    run.answered_by, run.provider, run.model = "model", config.name, config.model
    overlap = _Overlap(resumed)
    offered = tool_specs(context.tools) if context.tools else None
    rounds = 0
    while True:
        turn = _Turn()
        call = _turn(context, config, messages, overlap, turn, offered, resumed)
        async with aclosing(call):  # a stop closes the call (and records it) at once
            async for delta in call:
                yield delta
        end, usage, cost = turn.end, turn.usage, turn.cost
        assert end is not None and usage is not None  # noqa: S101 (the turn raised otherwise)
        if offered and end.tool_calls:
            rounds += 1
            messages = [*messages, *await tool_round(context, end.tool_calls, turn.text)]
            if not tools_still_offered(context, rounds):
                offered = None  # the last turn: an answer from what it has
            continue
        if (
            cacheable
            and not resumed
            and not rounds  # an answer from tools (the date, say) is not kept
            and context.cache_key
            and end.finish_reason in (None, "stop")  # not one cut short or filtered
        ):
            run.cache_put = CachePut(context.cache_key, context.question, turn.text,
                                     run.prompt_label, config.name, config.model,
                                     usage.tokens_in, usage.tokens_out, cost,
                                     sources_cited(turn.text, context.passages),
                                     context.audiences)  # fmt: skip
        yield AnswerDone(config.name, config.model, end.usage, cost, end.finish_reason, "model")
        return


class _Turn:
    """What one call to the model gave: its text, and how it ended."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.end: StreamEnd | None = None
        self.usage: Usage | None = None
        self.cost = Decimal(0)

    @property
    def text(self) -> str:
        return "".join(self.parts)


async def _turn(
    context: ReplyContext,
    config: ProviderConfig,
    messages: list[dict[str, Any]],
    overlap: _Overlap,
    turn: _Turn,
    offered: list[dict[str, Any]] | None,
    resumed: str,
) -> AnswerStream:
    """Stream one call's text; ``turn`` holds how it ended. Recorded as a ``generate``
    step, a failed or stopped call included."""
    began = time.perf_counter()
    parts = turn.parts
    code = "interrupted"
    events = stream_chat(config, messages, max_tokens=settings.ORION_MAX_REPLY_TOKENS,
                         tools=offered)  # fmt: skip
    try:
        async with aclosing(events):
            async for event in events:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                    if text := overlap.new_text(event.text):
                        yield TextDelta(text)
                    continue
                if text := overlap.flush():
                    yield TextDelta(text)
                usage = event.usage or usage_estimate(messages, sum(map(len, parts)))
                cost = usage_cost(config, usage)
                outcome = "tool_calls" if offered and event.tool_calls else "complete"
                _record(context, config, began, outcome, usage, cost,
                        estimated=event.usage is None, resumed=bool(resumed),
                        finish_reason=event.finish_reason)  # fmt: skip
                turn.end, turn.usage, turn.cost = event, usage, cost
    except ProviderError as exc:
        code = exc.code
        raise
    finally:
        if turn.end is None:  # failed or stopped: what was streamed was still paid for
            chars = sum(map(len, parts))
            usage = usage_estimate(messages, chars) if chars else Usage(0, 0)
            _record(context, config, began, code, usage, usage_cost(config, usage),
                    estimated=True, resumed=bool(resumed), chars=chars)  # fmt: skip


class _Overlap:
    """Cuts the already-shown text off a continuation that repeats it (a model that starts
    its reply over instead of continuing). Text that cannot be a repeat passes at once."""

    def __init__(self, resumed: str) -> None:
        self.resumed = resumed
        self.held = ""
        self.checking = bool(resumed)

    def new_text(self, text: str) -> str:
        if not self.checking:
            return text
        self.held += text
        if len(self.held) < len(self.resumed) and self.resumed.startswith(self.held):
            return ""  # could still be the start of a repeat
        return self.flush()

    def flush(self) -> str:
        held, self.held = self.held, ""
        if self.checking and held.startswith(self.resumed):
            held = held[len(self.resumed) :]
        self.checking = False
        return held


def _record(
    context: ReplyContext,
    config: ProviderConfig,
    began: float,
    outcome: str,
    usage: Usage,
    cost: Decimal,
    *,
    estimated: bool,
    resumed: bool,
    chars: int | None = None,
    finish_reason: str | None = None,
) -> None:
    run = context.run
    detail: dict[str, object] = {"provider": config.name, "model": config.model}
    if finish_reason:
        detail["finish_reason"] = finish_reason
    if resumed:
        detail["resumed"] = True
    if estimated:
        detail["estimated"] = True
        run.cost_estimated = True
    if chars is not None:
        detail["chars"] = chars
    run.step("generate", began, outcome, detail, tokens_in=usage.tokens_in,
             tokens_out=usage.tokens_out, cost=cost)  # fmt: skip
