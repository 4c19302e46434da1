"""The provider, against the simulator over real HTTP."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from agents.providers import (
    ProviderError,
    StreamEnd,
    TextDelta,
    ToolCallRequest,
    Usage,
    complete_chat,
    configured_provider,
    stream_chat,
    streaming,
    usage_cost,
)
from agents.simulator import (
    SimulatorConfig,
    SimulatorThread,
    count_prompt_tokens,
    grounded_answer,
    run_in_thread,
    simulated_reply,
)
from tests.conftest import free_port

MESSAGES = [{"role": "user", "content": "hello"}]


async def collect(
    messages: list[dict[str, Any]],
    *,
    max_tokens: int = 100,
    texts: list[str] | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> tuple[str, StreamEnd]:
    config = configured_provider()
    assert config is not None
    texts = [] if texts is None else texts
    end = None
    async for event in stream_chat(config, messages, max_tokens=max_tokens, tools=tools):
        if isinstance(event, TextDelta):
            texts.append(event.text)
        else:
            end = event
    assert end is not None
    return "".join(texts), end


async def failure(
    messages: list[dict[str, Any]],
    texts: list[str] | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> ProviderError:
    with pytest.raises(ProviderError) as failed:
        await collect(messages, texts=texts, tools=tools)
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


# --- tools ------------------------------------------------------------------------------------


def tool_spec(name: str) -> dict[str, Any]:
    parameters = {"type": "object", "properties": {}}
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


TOOLS = [tool_spec("calculator"), tool_spec("current_datetime")]


def results(asked: StreamEnd, *contents: str, text: str = "") -> list[dict[str, Any]]:
    """The messages a caller adds after running a turn's calls."""
    turn = {
        "role": "assistant",
        "content": text,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in asked.tool_calls
        ],
    }
    answers = [
        {"role": "tool", "tool_call_id": c.id, "content": content}
        for c, content in zip(asked.tool_calls, contents, strict=True)
    ]
    return [turn, *answers]


async def test_the_body_is_unchanged_without_tools_and_offers_them_when_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bodies: list[bytes] = []
    send = streaming._open

    async def spy(client: Any, body: bytes) -> Any:
        bodies.append(body)
        return await send(client, body)

    monkeypatch.setattr(streaming, "_open", spy)
    await collect(MESSAGES, max_tokens=7)
    await collect(MESSAGES, max_tokens=7, tools=[])
    await collect(MESSAGES, max_tokens=7, tools=TOOLS)
    plain = (
        b'{"model":"orion-sim-1","messages":[{"role":"user","content":"hello"}],'
        b'"max_tokens":7,"stream":true,"stream_options":{"include_usage":true}}'
    )
    assert bodies[0] == bodies[1] == plain
    assert json.loads(bodies[2]) == {**json.loads(plain), "tools": TOOLS}


async def test_a_turn_of_tool_calls_ends_with_the_calls_and_no_text() -> None:
    messages = [{"role": "user", "content": 'Look it up [sim:tool=lookup {"q": "otters"}]'}]
    text, end = await collect(messages, tools=TOOLS)
    assert text == ""
    assert end.finish_reason == "tool_calls"
    assert end.tool_calls == (ToolCallRequest("call_0", "lookup", '{"q": "otters"}'),)
    # a chunk naming the call, then its 15 characters of arguments in pieces of 8 or less
    assert end.usage == Usage(count_prompt_tokens(messages), 3)


async def test_the_model_calls_the_offered_tools_then_quotes_their_results() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is 12 * (3 + 4), and what is the date today?"}
    ]
    text, asked = await collect(messages, tools=TOOLS)
    assert text == "" and asked.finish_reason == "tool_calls"
    assert asked.tool_calls == (
        ToolCallRequest("call_0", "calculator", '{"expression": "12 * (3 + 4)"}'),
        ToolCallRequest("call_1", "current_datetime", "{}"),
    )
    messages += results(asked, "84", "Friday 6 June 2025, 10:15 (Europe/Paris)")
    text, end = await collect(messages, tools=TOOLS)
    assert text == (
        "The calculator gives 84. "
        "According to current_datetime: Friday 6 June 2025, 10:15 (Europe/Paris)."
    )
    assert text == grounded_answer(messages) and end.finish_reason == "stop"
    assert end.tool_calls == () and end.usage is not None
    assert end.usage.tokens_out == len(text.split())  # a token per word


async def test_a_repeated_call_comes_back_every_round_until_tools_are_withdrawn() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Loop [sim:tool_repeat=lookup {}] and [sim:tool=once {}]"}
    ]
    _, asked = await collect(messages, tools=TOOLS)
    assert [(c.id, c.name) for c in asked.tool_calls] == [("call_0", "lookup"), ("call_1", "once")]
    for round_ in range(2):
        messages += results(asked, *(f"result {round_}" for _ in asked.tool_calls))
        _, asked = await collect(messages, tools=TOOLS)
        made = 2 + round_
        assert [(c.id, c.name) for c in asked.tool_calls] == [(f"call_{made}", "lookup")]
    messages += results(asked, "last")
    text, end = await collect(messages)  # no tools: an answer from what came back
    assert end.tool_calls == () and text.startswith("According to lookup: result 0.")


async def test_a_dropped_turn_of_tool_calls_is_a_dropped_answer() -> None:
    messages = [{"role": "user", "content": "[sim:tool=lookup {}] [sim:drop=1]"}]
    assert (await failure(messages, tools=TOOLS)).code == "dropped"


async def test_an_answer_from_passages_cites_the_best_one() -> None:
    passages = (
        "<passages>\n[1] Guide › Exporting\nChoose Export to download a conversation.\n\n"
        "[2] Guide › Stopping\nPress Stop while an answer streams. The text stays. "
        "Nothing else happens.\n</passages>"
    )
    messages = [
        {"role": "system", "content": f"Answer from these passages.\n{passages}"},
        {"role": "user", "content": "How do I stop an answer that streams?"},
    ]
    text, end = await collect(messages, tools=TOOLS)
    assert text == "According to the knowledge base [2]: Press Stop while an answer streams. " + (
        "The text stays."
    )
    assert end.finish_reason == "stop"
