"""The provider, against the simulator over real HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from agents.providers import (
    ProviderError,
    StreamEnd,
    TextDelta,
    Usage,
    complete_chat,
    configured_provider,
    stream_chat,
    usage_cost,
)
from agents.simulator import (
    SimulatorConfig,
    SimulatorThread,
    count_prompt_tokens,
    run_in_thread,
    simulated_reply,
)
from tests.conftest import free_port

MESSAGES = [{"role": "user", "content": "hello"}]


async def collect(
    messages: list[dict[str, str]], *, max_tokens: int = 100, texts: list[str] | None = None
) -> tuple[str, StreamEnd]:
    config = configured_provider()
    assert config is not None
    texts = [] if texts is None else texts
    end = None
    async for event in stream_chat(config, messages, max_tokens=max_tokens):
        if isinstance(event, TextDelta):
            texts.append(event.text)
        else:
            end = event
    assert end is not None
    return "".join(texts), end


async def failure(messages: list[dict[str, str]], texts: list[str] | None = None) -> ProviderError:
    with pytest.raises(ProviderError) as failed:
        await collect(messages, texts=texts)
    return failed.value


async def test_a_stream_yields_the_reply_and_usage() -> None:
    text, end = await collect(MESSAGES)
    assert text == "".join(simulated_reply(MESSAGES, 30))
    assert end.finish_reason == "stop"
    assert end.usage == Usage(tokens_in=1, tokens_out=30)


async def test_max_tokens_cuts_the_reply() -> None:
    text, end = await collect(MESSAGES, max_tokens=5)
    assert text == "".join(simulated_reply(MESSAGES, 5)) and end.finish_reason == "length"


async def test_the_reply_is_as_long_as_the_model_makes_it() -> None:
    messages = [{"role": "user", "content": "short please [sim:tokens=4]"}]
    text, end = await collect(messages)
    assert text == "".join(simulated_reply(messages, 4)) and end.usage == Usage(
        count_prompt_tokens(messages), 4
    )


async def test_a_server_error_is_a_provider_error() -> None:
    assert (await failure([{"role": "user", "content": "hi [sim:error]"}])).code == "provider_error"


async def test_a_dropped_stream_keeps_what_came_and_is_reported_as_dropped() -> None:
    messages = [{"role": "user", "content": "hi [sim:drop=3]"}]
    texts: list[str] = []
    assert (await failure(messages, texts)).code == "dropped"
    assert "".join(texts) == "".join(simulated_reply(messages, 3))


async def test_an_unreachable_model_is_reported_as_such(settings: Any) -> None:
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    assert (await failure(MESSAGES)).code == "unavailable"


async def test_a_silent_model_times_out(settings: Any) -> None:
    settings.ORION_MODEL_TIMEOUT = 0.2
    assert (await failure([{"role": "user", "content": "wait [sim:ttft=3000]"}])).code == "timeout"


async def test_a_wrong_key_is_reported_as_a_configuration_problem(settings: Any) -> None:
    with run_in_thread(SimulatorConfig(port=0, api_key="right", ttft_ms=1)) as guarded:
        settings.OPENAI_BASE_URL = guarded.base_url
        settings.OPENAI_API_KEY = "wrong"
        assert (await failure(MESSAGES)).code == "auth"
        settings.OPENAI_API_KEY = "right"
        assert (await collect(MESSAGES))[1].finish_reason == "stop"


async def test_a_server_error_is_tried_again_when_retries_are_allowed(
    settings: Any, simulator: SimulatorThread
) -> None:
    settings.ORION_MODEL_RETRIES = 1
    before = simulator.stats()["requests"]
    assert (await failure([{"role": "user", "content": "hi [sim:error]"}])).code == "provider_error"
    assert simulator.stats()["requests"] - before == 2


async def test_answers_reuse_one_kept_alive_connection(simulator: SimulatorThread) -> None:
    before = simulator.stats()["connections"]
    for _ in range(3):
        await collect(MESSAGES, max_tokens=2)
    assert simulator.stats()["connections"] - before == 1


async def test_a_completion_returns_text_and_usage() -> None:
    config = configured_provider()
    assert config is not None
    text, usage = await complete_chat(config, MESSAGES, max_tokens=7)
    assert text == "".join(simulated_reply(MESSAGES, 7))
    assert usage == Usage(tokens_in=1, tokens_out=7)


async def test_a_failed_completion_is_a_provider_error() -> None:
    config = configured_provider()
    assert config is not None
    with pytest.raises(ProviderError) as failed:
        await complete_chat(config, [{"role": "user", "content": "[sim:error]"}], max_tokens=7)
    assert failed.value.code == "provider_error"


def test_cost_comes_from_configured_prices() -> None:
    config = configured_provider()
    assert config is not None
    assert usage_cost(config, Usage(tokens_in=1000, tokens_out=2000)) == Decimal("3.500000")


def test_the_provider_follows_settings_and_is_none_without_a_base_url(settings: Any) -> None:
    settings.ORION_MODEL = "gpt-4o-mini"
    config = configured_provider()
    assert config is not None and config.model == "gpt-4o-mini" and not config.simulated
    assert "test-key" not in repr(config)
    settings.OPENAI_BASE_URL = ""
    assert configured_provider() is None
