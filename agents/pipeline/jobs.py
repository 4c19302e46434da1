"""One-shot model calls outside a reply (a title, a summary): the model of the chain's
first provider, a staff-editable prompt, and a run of kind ``job`` with one step."""

from __future__ import annotations

import logging
import time

from asgiref.sync import sync_to_async

from agents.pipeline.config import staff_config
from agents.pipeline.records import RunRecord
from agents.pipeline.store import runs_store
from agents.providers import ProviderError, Usage, complete_chat, configured_provider, usage_cost

logger = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4


async def job_complete(step: str, prompt_key: str, text: str, *, max_tokens: int) -> str | None:
    """The model's answer to ``text`` under the published prompt ``prompt_key``: "" if the
    call failed, None with no model configured. Never raises; the call is recorded."""
    try:
        config = await sync_to_async(staff_config)()
    except Exception:
        logger.warning("%s: staff configuration unreadable", step, exc_info=True)
        return ""
    provider = config.providers[0] if config.providers else configured_provider()
    if provider is None:
        return None
    prompt = config.prompt(prompt_key)
    messages = [{"role": "system", "content": prompt.rendered()}, {"role": "user", "content": text}]
    run = RunRecord(kind="job", answered_by="model", provider=provider.name,
                    model=provider.model, prompt_version_id=prompt.version_id,
                    prompt_label=prompt.label)  # fmt: skip
    began = time.perf_counter()
    answer, outcome = "", "complete"
    try:
        answer, usage = await complete_chat(provider, messages, max_tokens=max_tokens)
        usage = usage or Usage(len(text) // CHARS_PER_TOKEN + 1, len(answer) // CHARS_PER_TOKEN)
        run.step(step, began, outcome, {"provider": provider.name}, tokens_in=usage.tokens_in,
                 tokens_out=usage.tokens_out, cost=usage_cost(provider, usage))  # fmt: skip
    except ProviderError as exc:
        outcome = exc.code
        logger.info("%s: the model call failed: %s", step, exc.code)
    except Exception:  # a title or a summary is a nicety: never break what asked for it
        outcome = "internal"
        logger.warning("%s: the model call failed", step, exc_info=True)
    if outcome != "complete":
        run.step(step, began, outcome, {"provider": provider.name})
    run.end()
    failed = outcome != "complete"
    try:
        await sync_to_async(runs_store)(
            finished=[(None, run, "failed" if failed else "complete", outcome if failed else "")]
        )
    except Exception:
        logger.warning("%s: run not recorded", step, exc_info=True)
    return answer
