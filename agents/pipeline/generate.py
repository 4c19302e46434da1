"""Generation: the answer streamed from the provider chain (offline mode without one).

Providers are tried in order. One whose circuit breaker is open is skipped at once; one
that fails before its first token was already retried under the retry policy and gives
way to the next. One that fails **after** text was shown gives way too, and the next
continues the same message from the text already shown (sent as the start of the
assistant's reply), so the person sees one message, nothing repeated. When every provider
has failed, the degradation ladder answers (``agents.pipeline.ladder``).

Every attempt is a ``generate`` step with its tokens and cost, a failed or stopped one
included: estimated (and marked so) where the provider sent no usage.
"""

from __future__ import annotations

import time
from contextlib import aclosing
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings

from agents.pipeline.config import PublishedPrompt
from agents.pipeline.events import AnswerDone, TextDelta
from agents.pipeline.ladder import degrade
from agents.pipeline.offline import offline_reply
from agents.pipeline.records import CachePut
from agents.pipeline.stages import AnswerStream, ReplyContext
from agents.providers import (
    HALF_OPEN,
    OPEN,
    ProviderConfig,
    ProviderError,
    Usage,
    breaker_failure,
    breaker_success,
    breaker_trial,
    stream_chat,
    usage_cost,
)

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
    history: list[dict[str, str]], system_prompt: PublishedPrompt | None
) -> list[dict[str, str]]:
    """The messages sent to the model: the system prompt, then the conversation."""
    if system_prompt is None:
        return list(history)
    return [{"role": "system", "content": system_prompt.rendered()}, *history]


def usage_estimate(messages: list[dict[str, str]], answer_chars: int) -> Usage:
    chars_in = sum(len(m["content"]) for m in messages)
    return Usage(chars_in // CHARS_PER_TOKEN + 1, -(-answer_chars // CHARS_PER_TOKEN))


async def _chain(context: ReplyContext) -> AnswerStream:
    base = model_input(context.history, context.system_prompt)
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
    messages: list[dict[str, str]],
    resumed: str,
    *,
    cacheable: bool,
) -> AnswerStream:
    """One provider's stream; raises ``ProviderError``. A continuation that starts over
    from the beginning has what was already shown cut off its front."""
    run = context.run
    run.answered_by, run.provider, run.model = "model", config.name, config.model
    began = time.perf_counter()
    parts: list[str] = []
    overlap = _Overlap(resumed)
    recorded = False
    code = "interrupted"
    events = stream_chat(config, messages, max_tokens=settings.ORION_MAX_REPLY_TOKENS)
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
                _record(context, config, began, "complete", usage, cost,
                        estimated=event.usage is None, resumed=bool(resumed),
                        finish_reason=event.finish_reason)  # fmt: skip
                recorded = True
                if (
                    cacheable
                    and not resumed
                    and context.cache_key
                    and (
                        event.finish_reason in (None, "stop")  # not one cut short or filtered
                    )
                ):
                    run.cache_put = CachePut(context.cache_key, context.question, "".join(parts),
                                             run.prompt_label, config.name, config.model,
                                             usage.tokens_in, usage.tokens_out, cost)  # fmt: skip
                yield AnswerDone(config.name, config.model, event.usage, cost,
                                 event.finish_reason, "model")  # fmt: skip
    except ProviderError as exc:
        code = exc.code
        raise
    finally:
        if not recorded:  # failed or stopped: what was streamed was still paid for
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
