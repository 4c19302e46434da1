"""The simulator's tool calls and grounded replies: which calls a request gets, how they
stream (OpenAI's fragments, read by the official SDK), the replies quoting tool results or
a knowledge-base passage (``test_simulator_passages``), and the markers that keep working
with them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, cast

import openai
import pytest

from agents.simulator import (
    SimToolCall,
    SimulatorThread,
    arithmetic_expression,
    grounded_answer,
    run_in_thread,
    simulated_reply,
    simulated_tool_calls,
)
from tests.agents.test_simulator import client, fast

try:
    import httpx
except ImportError:  # some environments ship only the httpx2 fork that openai imports
    import httpx2 as httpx  # type: ignore[no-redef]

Message = dict[str, Any]
__all__ = ["client"]  # (a fixture: the simulator tests' SDK client, on this module's sim)


def spec(name: str) -> dict[str, Any]:
    parameters = {"type": "object", "properties": {}}
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


TOOLS = [spec("calculator"), spec("current_datetime"), spec("knowledge_search")]
# Short replies, so a fixed text being sent whole (not cut at reply_tokens) shows.
REPLY_TOKENS = 5


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with run_in_thread(fast(reply_tokens=REPLY_TOKENS)) as running:
        yield running


def user(text: str) -> list[Message]:
    return [{"role": "user", "content": text}]


def called(text: str, tools: list[dict[str, Any]] = TOOLS) -> list[tuple[str, str]]:
    return [(c.name, c.arguments) for c in simulated_tool_calls(user(text), tools)]


def answered(calls: list[SimToolCall], *contents: str) -> list[Message]:
    """The assistant's turn of ``calls`` and a ``tool`` message per result."""
    turn: Message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": c.id, "content": content}
        for c, content in zip(calls, contents, strict=True)
    ]
    return [turn, *results]


def sse_events(sim: SimulatorThread, payload: dict[str, Any]) -> list[dict[str, Any]]:
    response = httpx.post(f"{sim.base_url}/chat/completions", json={"model": "m", **payload})
    assert response.status_code == 200
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(item) for item in data[:-1]]


def create(sdk: openai.OpenAI, messages: list[Message], **kwargs: Any) -> Any:
    """A chat completion through the official SDK (a stream of chunks with ``stream``)."""
    return sdk.chat.completions.create(model="m", messages=cast(Any, messages), **kwargs)


def text_of(completion: Any) -> str:
    return "".join(c.choices[0].delta.content or "" for c in completion if c.choices)


# --- which calls ----------------------------------------------------------------------------


def test_a_marker_calls_any_tool_with_its_json_verbatim() -> None:
    assert called('Find it [sim:tool=lookup {"q": "otters", "n": [1, 2]}]') == [
        ("lookup", '{"q": "otters", "n": [1, 2]}')
    ]
    assert called('[sim:tool=calculator {"expression": 1+]') == [
        ("calculator", '{"expression": 1+')
    ]
    assert called("[sim:tool=no_arguments] please") == [("no_arguments", "{}")]


def test_several_markers_make_parallel_calls_in_order_with_numbered_ids() -> None:
    calls = simulated_tool_calls(
        user('[sim:tool=a {"x": 1}][sim:tool=b.c {}] then [sim:tool=d-e {"y": 2}]'), TOOLS
    )
    assert calls == [
        SimToolCall("call_0", "a", '{"x": 1}'),
        SimToolCall("call_1", "b.c", "{}"),
        SimToolCall("call_2", "d-e", '{"y": 2}'),
    ]


def test_markers_win_over_the_guesses_and_pacing_markers_are_not_calls() -> None:
    assert called("What is 2 + 2 today? [sim:tool=lookup {}] [sim:tokens=3]") == [("lookup", "{}")]
    assert called("[sim:tokens=3] [sim:ttft=5] hello") == []


@pytest.mark.parametrize(
    ("question", "expression"),
    [
        ("what is 12 * (3 + 4)?", "12 * (3 + 4)"),
        ("Compute (2+3)*4 please.", "(2+3)*4"),
        ("and 1.5 × 4 ÷ 3, roughly", "1.5 × 4 ÷ 3"),
        ("2^10 is how much", "2^10"),
        ("(see 3 - 4) for more", "3 - 4"),
        ("what is -3 + 4", "-3 + 4"),
        ("I have 3 apples and 4 pears", None),
        ("the year 2025.", None),
        ("what is 17.5% of 80", None),
    ],
)
def test_an_arithmetic_expression_is_found_as_written(question: str, expression: str) -> None:
    assert arithmetic_expression(question) == expression


def test_the_calculator_and_the_clock_are_called_when_offered_and_asked_for() -> None:
    assert called("what is 12 * (3 + 4)?") == [("calculator", '{"expression": "12 * (3 + 4)"}')]
    assert called("What's the date?") == [("current_datetime", "{}")]
    assert called("what TIME is it") == [("current_datetime", "{}")]
    assert called("What is 6 * 7 today?") == [
        ("calculator", '{"expression": "6 * 7"}'),
        ("current_datetime", "{}"),
    ]
    assert called("a timeout, dates and times") == []  # whole words only
    assert called("what is 6 * 7 today", [spec("current_datetime")]) == [("current_datetime", "{}")]


def test_no_tools_no_calls_and_a_turn_after_results_only_repeats() -> None:
    assert simulated_tool_calls(user("[sim:tool=lookup {}] 6 * 7 today"), None) == []
    assert simulated_tool_calls(user("[sim:tool=lookup {}] 6 * 7 today"), []) == []
    messages = user("[sim:tool=once {}] [sim:tool_repeat=again {}] 6 * 7")
    first = simulated_tool_calls(messages, TOOLS)
    assert [(c.id, c.name) for c in first] == [("call_0", "once"), ("call_1", "again")]
    messages += answered(first, "1", "2")
    assert simulated_tool_calls(messages, TOOLS) == [SimToolCall("call_2", "again", "{}")]
    guessed = user("6 * 7 today")
    guessed += answered(simulated_tool_calls(guessed, TOOLS), "42", "Monday")
    assert simulated_tool_calls(guessed, TOOLS) == []


# --- how a turn of calls goes out -------------------------------------------------------------


def test_calls_stream_as_openai_fragments(sim: SimulatorThread) -> None:
    events = sse_events(
        sim,
        {
            "messages": user("What is 12 * (3 + 4) today?"),
            "tools": TOOLS,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    fragments = [e["choices"][0]["delta"]["tool_calls"] for e in events[1:-2]]
    assert all(len(f) == 1 and e["choices"][0]["finish_reason"] is None
               for f, e in zip(fragments, events[1:-2], strict=True))  # fmt: skip
    by_index: dict[int, list[dict[str, Any]]] = {}
    for (fragment,) in fragments:
        by_index.setdefault(fragment["index"], []).append(fragment)
    assert sorted(by_index) == [0, 1]
    for index, name, arguments in (
        (0, "calculator", '{"expression": "12 * (3 + 4)"}'),
        (1, "current_datetime", "{}"),
    ):
        head, *rest = by_index[index]
        assert head == {"index": index, "id": f"call_{index}", "type": "function",
                        "function": {"name": name, "arguments": ""}}  # fmt: skip
        assert len(rest) >= 2 and all(set(f) == {"index", "function"} for f in rest)
        assert "".join(f["function"]["arguments"] for f in rest) == arguments
    assert events[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None,
                                        "finish_reason": "tool_calls"}  # fmt: skip
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == len(
        fragments
    )
    assert len({e["id"] for e in events}) == 1


def test_the_sdk_reads_streamed_and_whole_calls(client: openai.OpenAI) -> None:
    messages = user('Both [sim:tool=lookup {"q": "a long query for the knowledge base"}]')
    stream = create(client, messages, tools=TOOLS, stream=True)
    arguments = ""
    for chunk in stream:
        fragments = chunk.choices[0].delta.tool_calls if chunk.choices else None
        for fragment in fragments or ():
            assert fragment.index == 0 and fragment.function is not None
            arguments += fragment.function.arguments or ""
    assert arguments == '{"q": "a long query for the knowledge base"}'

    completion = create(client, messages, tools=TOOLS)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None
    [call] = choice.message.tool_calls
    assert (call.id, call.type, call.function.name) == ("call_0", "function", "lookup")
    assert call.function.arguments == arguments
    assert completion.usage is not None and completion.usage.completion_tokens == 3


def test_tool_choice_none_or_no_tools_gets_a_reply(client: openai.OpenAI) -> None:
    messages = user("What is 6 * 7? [sim:tool=lookup {}]")
    for extra in ({"tools": TOOLS, "tool_choice": "none"}, {}):
        completion = create(client, messages, **extra)
        assert completion.choices[0].finish_reason == "stop"
        assert completion.choices[0].message.content == "".join(
            simulated_reply(messages, REPLY_TOKENS)
        )


def test_tools_that_are_not_a_list_of_objects_get_a_400(sim: SimulatorThread) -> None:
    for tools in ("calculator", ["calculator"], {"type": "function"}):
        response = httpx.post(
            f"{sim.base_url}/chat/completions",
            json={"model": "m", "messages": user("hi"), "tools": tools},
        )
        assert response.status_code == 400
        assert "'tools'" in response.json()["error"]["message"]


def test_error_drop_and_ttft_markers_apply_to_a_turn_of_calls(
    client: openai.OpenAI, sim: SimulatorThread
) -> None:
    with pytest.raises(openai.InternalServerError):
        create(client, user("[sim:tool=a {}] [sim:error]"), tools=TOOLS)
    received = b""
    body = {"model": "m", "messages": user("[sim:tool=a {}] [sim:drop=2]"), "tools": TOOLS,
            "stream": True}  # fmt: skip
    with (
        pytest.raises(httpx.RemoteProtocolError),  # the chunked body never ends
        httpx.stream("POST", f"{sim.base_url}/chat/completions", json=body) as response,
    ):
        for data in response.iter_bytes():
            received += data
    # the role chunk, then the call's first chunk and one piece of its arguments
    assert received.count(b'"tool_calls"') == 2 and b"[DONE]" not in received
    began = time.monotonic()
    create(client, user("[sim:tool=a {}] [sim:ttft=150]"), tools=TOOLS)
    assert time.monotonic() - began >= 0.15


# --- replies quoting tool results -------------------------------------------------------------


def test_tool_results_are_quoted_by_tool_name_in_order() -> None:
    messages = user("What is 12 * (3 + 4) today? And check [sim:tool=lookup {}]")
    calls = [
        SimToolCall("call_0", "calculator", "{}"),
        SimToolCall("call_1", "current_datetime", "{}"),
        SimToolCall("call_2", "knowledge_search", "{}"),
    ]
    messages += answered(calls, " 84\n", "Friday 6 June 2025!", "Error: there is no such tool.")
    assert grounded_answer(messages) == (
        "The calculator gives 84. According to current_datetime: Friday 6 June 2025! "
        "The tool knowledge_search failed: Error: there is no such tool."
    )


def test_a_result_keeps_its_whitespace_and_is_cut_at_300_characters() -> None:
    messages = user("search")
    [call] = [SimToolCall("call_0", "knowledge_search", "{}")]
    messages += answered([call], "[1] Guide › Part\nLine one.\n\n[2] Other")
    assert grounded_answer(messages) == (
        "According to knowledge_search: [1] Guide › Part\nLine one.\n\n[2] Other."
    )
    assert "".join(simulated_reply(messages, 1000)) == grounded_answer(messages)
    long = answered([call], "x" * 299 + " yyyy")
    assert grounded_answer(user("search") + long) == f"According to knowledge_search: {'x' * 299}."


def test_a_result_without_a_matching_call_is_named_by_its_message() -> None:
    messages = [*user("hi"), {"role": "tool", "tool_call_id": "nope", "name": "f", "content": ""}]
    assert grounded_answer(messages) == "According to f: (empty)."
    messages[-1].pop("name")
    assert grounded_answer(messages) == "According to the tool: (empty)."


def test_results_before_the_last_user_message_are_not_quoted() -> None:
    messages = user("6 * 7")
    messages += answered([SimToolCall("call_0", "calculator", "{}")], "42")
    messages += [{"role": "assistant", "content": "The calculator gives 42."}, *user("thanks")]
    assert grounded_answer(messages) is None


def test_a_quoting_reply_is_sent_whole_and_cut_only_on_request(client: openai.OpenAI) -> None:
    messages = user("6 * 7 today")
    messages += answered(simulated_tool_calls(messages, TOOLS), "42", "Monday 2 June 2025")
    expected = "The calculator gives 42. According to current_datetime: Monday 2 June 2025."
    assert len(expected.split()) > REPLY_TOKENS

    stream = create(client, messages, stream=True)
    assert text_of(stream) == expected
    completion = create(client, messages, tools=TOOLS)
    assert completion.choices[0].message.content == expected
    assert completion.usage is not None and completion.usage.completion_tokens == 11

    cut = create(client, messages, max_tokens=3)
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == (
        "The calculator gives",
        "length",
    )
    messages[0]["content"] += " [sim:tokens=4]"
    marked = create(client, messages)
    assert marked.choices[0].message.content == "The calculator gives 42."


def test_a_quoting_reply_cut_short_is_continued_exactly(client: openai.OpenAI) -> None:
    messages = user("6 * 7")
    messages += answered([SimToolCall("call_0", "calculator", "{}")], "42")
    messages[0]["content"] += " Always"
    whole = "The calculator gives 42."
    for cut in (1, 10, len(whole) - 1):
        resumed = [*messages, {"role": "assistant", "content": whole[:cut]}]
        completion = create(client, resumed)
        assert whole[:cut] + (completion.choices[0].message.content or "") == whole


def test_a_required_opening_comes_before_the_quote() -> None:
    messages: list[Message] = [
        {"role": "system", "content": "Always begin your answer with:  Hello   there"},
        *user("6 * 7"),
    ]
    messages += answered([SimToolCall("call_0", "calculator", "{}")], "42")
    assert "".join(simulated_reply(messages, 100)) == "Hello there The calculator gives 42."
