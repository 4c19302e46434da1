"""The streamed call over aiohttp, against hand-written servers that misbehave."""

from __future__ import annotations

import asyncio
import logging
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
)
from tests.agents.model_servers import (
    DONE,
    SSE_HEAD,
    ModelServer,
    answer,
    chunked,
    completion,
    event,
    raw,
    serving,
    status,
)
from tests.conftest import free_port

MESSAGES = [{"role": "user", "content": "hello"}]


async def collect(max_tokens: int = 100) -> tuple[list[str], StreamEnd]:
    config = configured_provider()
    assert config is not None
    texts: list[str] = []
    end = None
    async for item in stream_chat(config, MESSAGES, max_tokens=max_tokens):
        if isinstance(item, TextDelta):
            texts.append(item.text)
        else:
            end = item
    assert end is not None
    return texts, end


async def failure_code() -> str:
    with pytest.raises(ProviderError) as failed:
        await collect()
    return failed.value.code


@pytest.fixture
def point_at(settings: Any) -> Any:
    def point(model: ModelServer, *, retries: int = 0) -> None:
        settings.OPENAI_BASE_URL = model.base_url
        settings.ORION_MODEL_RETRIES = retries

    return point


async def test_the_request_is_a_streamed_completion_with_the_key_and_usage_asked_for(
    point_at: Any,
) -> None:
    async with serving(answer("Hi", " there")) as model:
        point_at(model)
        texts, end = await collect(max_tokens=7)
    head = model.requests[0].partition(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /v1/chat/completions HTTP/1.1\r\n")
    assert "Authorization: Bearer test-key" in head
    assert "Content-Type: application/json" in head
    assert model.request_json() == {
        "model": "orion-sim-1",
        "messages": MESSAGES,
        "max_tokens": 7,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert ("".join(texts), end.finish_reason, end.usage) == ("Hi there", "stop", Usage(3, 2))


async def test_everything_that_arrived_since_the_last_read_comes_as_one_delta(
    point_at: Any,
) -> None:
    go, sent = asyncio.Event(), asyncio.Event()

    async def reply(writer: asyncio.StreamWriter, model: ModelServer) -> bool:
        writer.write(SSE_HEAD + chunked(event("A")))
        await go.wait()
        for text in ("B", "C", "D"):  # three writes while the reader is busy elsewhere
            writer.write(chunked(event(text)))
            await writer.drain()
        writer.write(chunked(event(finish="stop") + DONE) + b"0\r\n\r\n")
        await writer.drain()
        sent.set()
        return True

    async with serving(reply) as model:
        point_at(model)
        config = configured_provider()
        assert config is not None
        stream = stream_chat(config, MESSAGES, max_tokens=10)
        assert await anext(stream) == TextDelta("A")
        go.set()
        await sent.wait()
        rest = [item async for item in stream]
    assert rest[0] == TextDelta("BCD") and isinstance(rest[1], StreamEnd) and len(rest) == 2


async def test_garbage_instead_of_http_is_a_provider_error(point_at: Any) -> None:
    async with serving(raw(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")) as model:
        point_at(model)
        assert await failure_code() == "provider_error"


async def test_a_body_cut_mid_way_is_a_dropped_answer(point_at: Any) -> None:
    async with serving(raw(SSE_HEAD + chunked(event("Hel")) + b"40\r\ndata: {")) as model:
        point_at(model)
        assert await failure_code() == "dropped"


async def test_a_stream_that_ends_cleanly_without_finishing_is_a_dropped_answer(
    point_at: Any,
) -> None:
    async with serving(raw(SSE_HEAD + chunked(event("Hel")) + b"0\r\n\r\n")) as model:
        point_at(model)
        assert await failure_code() == "dropped"


async def test_a_streamed_error_object_is_a_provider_error(point_at: Any) -> None:
    body = b'data: {"error": {"message": "overloaded"}}\n\n'
    async with serving(raw(SSE_HEAD + chunked(body) + b"0\r\n\r\n")) as model:
        point_at(model)
        assert await failure_code() == "provider_error"


@pytest.mark.parametrize(
    "pieces",
    [(), (SSE_HEAD + chunked(event("Hel")),)],
    ids=["before-the-response", "mid-answer"],
)
async def test_a_silent_server_times_out(
    point_at: Any, settings: Any, pieces: tuple[bytes, ...]
) -> None:
    settings.ORION_MODEL_TIMEOUT = 0.2
    async with serving(raw(*pieces, then="wait")) as model:
        point_at(model, retries=2)
        assert await failure_code() == "timeout"
    assert len(model.requests) == 1  # a server that is thinking is not asked again


async def test_nobody_listening_is_unavailable(settings: Any) -> None:
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    assert await failure_code() == "unavailable"


async def test_a_429_asking_to_wait_is_tried_again_and_the_second_attempt_answers(
    point_at: Any,
) -> None:
    async with serving(status(429, headers=b"Retry-After: 0\r\n"), answer("ok")) as model:
        point_at(model, retries=1)
        texts, _end = await collect()
    assert texts == ["ok"] and len(model.requests) == 2


async def test_a_500_is_tried_again_and_the_second_attempt_answers(point_at: Any) -> None:
    async with serving(status(500, headers=b"Retry-After: 0\r\n"), answer("ok")) as model:
        point_at(model, retries=1)
        texts, _end = await collect()
    assert texts == ["ok"] and len(model.requests) == 2


async def test_without_retries_a_500_is_reported_at_once(point_at: Any) -> None:
    async with serving(status(500, headers=b"Retry-After: 0\r\n"), answer("ok")) as model:
        point_at(model, retries=0)
        assert await failure_code() == "provider_error"
    assert len(model.requests) == 1


async def test_a_refused_key_is_not_tried_again(point_at: Any) -> None:
    async with serving(status(401), answer("ok")) as model:
        point_at(model, retries=2)
        assert await failure_code() == "auth"
    assert len(model.requests) == 1


async def test_a_server_asking_for_a_long_wait_is_not_tried_again(point_at: Any) -> None:
    async with serving(status(429, headers=b"Retry-After: 3600\r\n"), answer("ok")) as model:
        point_at(model, retries=2)
        assert await failure_code() == "rate_limited"
    assert len(model.requests) == 1


async def test_the_completion_follows_the_same_retry_policy(point_at: Any) -> None:
    async with serving(status(503, headers=b"Retry-After: 0\r\n"), completion("Hi")) as model:
        point_at(model, retries=1)
        config = configured_provider()
        assert config is not None
        text, usage = await complete_chat(config, MESSAGES, max_tokens=5)
    assert text == "Hi" and usage == Usage(3, 1) and len(model.requests) == 2


async def test_a_failure_is_logged_with_status_and_a_short_body_never_the_key(
    point_at: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(status(502, b"x" * 1000)) as model:
        point_at(model)
        with caplog.at_level(logging.WARNING, logger="agents.providers"):
            assert await failure_code() == "provider_error"
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("agents.providers")]
    assert any("502" in line and "x" * 300 in line for line in logged)
    assert all("x" * 301 not in line and "test-key" not in line for line in logged)


async def test_connections_are_kept_alive_between_answers(point_at: Any) -> None:
    async with serving(answer("one"), answer("two")) as model:
        point_at(model)
        assert (await collect())[0] == ["one"]
        assert (await collect())[0] == ["two"]
    assert model.connections == 1


async def test_a_proxy_named_in_the_environment_carries_the_call(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with serving(answer("via proxy")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        settings.OPENAI_BASE_URL = "http://model.invalid/v1"
        texts, _end = await collect()
    assert texts == ["via proxy"]
    request_line = proxy.requests[0].split(b"\r\n", 1)[0]
    assert request_line == b"POST http://model.invalid/v1/chat/completions HTTP/1.1"
