"""The provider, against the simulator over real HTTP."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from agents.pipeline import OFFLINE_REPLY, AnswerDone, answer_stream, model_status
from agents.providers import (
    ProviderError,
    StreamEnd,
    TextDelta,
    Usage,
    complete_chat,
    configured_provider,
    stream_chat,
)
from agents.simulator import simulated_reply
from tests.conftest import free_port

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(autouse=True, params=["lean", "httpx"])
def http_stack(request: pytest.FixtureRequest, settings: Any) -> str:
    """Every provider test runs over Orion's transport and over the SDK's own."""
    settings.ORION_MODEL_HTTP = request.param
    return str(request.param)


async def collect(messages: list[dict[str, str]], **kw: Any) -> tuple[str, StreamEnd]:
    config = configured_provider()
    assert config is not None
    text, end = "", None
    async for event in stream_chat(config, messages, max_tokens=kw.get("max_tokens", 100)):
        if isinstance(event, TextDelta):
            text += event.text
        else:
            end = event
    assert end is not None
    return text, end


async def test_a_stream_yields_the_reply_and_usage() -> None:
    text, end = await collect(MESSAGES)
    assert text == "".join(simulated_reply(MESSAGES, 30))
    assert end.finish_reason == "stop"
    assert end.usage == Usage(tokens_in=1, tokens_out=30)


async def test_max_tokens_cuts_the_reply() -> None:
    text, end = await collect(MESSAGES, max_tokens=5)
    assert text == "".join(simulated_reply(MESSAGES, 5)) and end.finish_reason == "length"


@pytest.mark.parametrize(
    ("marker", "code"), [("[sim:error]", "provider_error"), ("[sim:drop=3]", "dropped")]
)
async def test_failures_become_provider_errors_a_person_can_read(marker: str, code: str) -> None:
    with pytest.raises(ProviderError) as error:
        await collect([{"role": "user", "content": f"hi {marker}"}])
    assert error.value.code == code
    assert "Error" not in error.value.user_message


async def test_an_unreachable_model_is_reported_as_such(settings: Any) -> None:
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ProviderError) as error:
        await collect(MESSAGES)
    assert error.value.code == "unavailable"


async def test_a_silent_model_times_out(settings: Any) -> None:
    settings.ORION_MODEL_TIMEOUT = 1.0
    with pytest.raises(ProviderError) as error:
        await collect([{"role": "user", "content": "wait [sim:ttft=3000]"}])
    assert error.value.code == "timeout"


async def test_a_wrong_key_is_reported_as_a_configuration_problem(settings: Any) -> None:
    from agents.simulator import SimulatorConfig, run_in_thread

    with run_in_thread(SimulatorConfig(port=0, api_key="right", ttft_ms=1)) as guarded:
        settings.OPENAI_BASE_URL = guarded.base_url
        settings.OPENAI_API_KEY = "wrong"
        with pytest.raises(ProviderError) as error:
            await collect(MESSAGES)
    assert error.value.code == "auth" and "administrator" in error.value.user_message


async def test_a_completion_returns_text_and_usage() -> None:
    config = configured_provider()
    assert config is not None
    text, usage = await complete_chat(config, MESSAGES, max_tokens=7)
    assert text == "".join(simulated_reply(MESSAGES, 7))
    assert usage == Usage(tokens_in=1, tokens_out=7)


def test_cost_comes_from_configured_prices() -> None:
    config = configured_provider()
    assert config is not None
    assert config.cost(Usage(tokens_in=1000, tokens_out=2000)) == Decimal("3.500000")


async def test_the_pipeline_prepends_the_system_prompt_and_reports_cost(settings: Any) -> None:
    history = [{"role": "user", "content": "hi"}]
    events = [event async for event in answer_stream(history=history)]
    done = events[-1]
    assert isinstance(done, AnswerDone) and done.cost is not None and done.cost > 0
    expected = simulated_reply(
        [{"role": "system", "content": settings.ORION_SYSTEM_PROMPT}, *history], 30
    )
    assert "".join(e.text for e in events[:-1] if isinstance(e, TextDelta)) == "".join(expected)


async def test_offline_mode_answers_honestly(settings: Any) -> None:
    settings.OPENAI_BASE_URL = ""
    events = [event async for event in answer_stream(history=MESSAGES)]
    assert events[0] == TextDelta(OFFLINE_REPLY)
    assert isinstance(events[1], AnswerDone) and events[1].provider == "offline"
    assert model_status().offline


def test_the_simulator_is_labelled_as_such(settings: Any) -> None:
    assert model_status().simulated
    settings.ORION_MODEL = "gpt-4o-mini"
    assert not model_status().simulated


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "auth"), (403, "auth"), (429, "rate_limited"), (408, "timeout"),
     (400, "bad_request"), (422, "bad_request"), (500, "provider_error"), (503, "provider_error")],
)  # fmt: skip
def test_http_statuses_become_reasons_a_person_can_read(status: int, code: str) -> None:
    from agents.providers import _status_error

    assert _status_error(status).code == code


def test_retries_wait_as_the_server_asks_or_back_off() -> None:
    import httpx2 as httpx

    from agents.providers import _retry_delay

    assert _retry_delay(0, httpx.Headers({"retry-after": "2"})) == 2.0
    assert 0.375 <= _retry_delay(0, httpx.Headers({"retry-after": "soon"})) <= 0.5
    assert 0.75 <= _retry_delay(1, None) <= 1.0
    assert _retry_delay(10, None) <= 8.0


@pytest.mark.parametrize(
    "payload", [b"{not json", b'{"choices": []} trailing', b"[1, 2]", b"\xff\xfe{}", b""]
)
def test_a_malformed_streamed_chunk_is_a_provider_error(payload: bytes) -> None:
    from agents.providers import _parse_event

    with pytest.raises(ProviderError) as failed:
        _parse_event(payload)
    assert failed.value.code == "provider_error"


def test_a_streamed_chunk_gives_its_text_finish_and_usage() -> None:
    from agents.providers import _parse_event

    chunk = {"choices": [{"index": 0, "delta": {"content": "Hé"}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 3, "completion_tokens": 1}}  # fmt: skip
    texts, finish, usage = _parse_event(json.dumps(chunk).encode())
    assert (texts, finish) == (["Hé"], "stop")
    assert usage is not None and (usage.tokens_in, usage.tokens_out) == (3, 1)
