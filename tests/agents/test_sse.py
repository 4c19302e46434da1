"""Parsing a streamed chat completion's server-sent events, read by read."""

from __future__ import annotations

import json

import pytest

from agents.providers import ProviderError, ToolCallRequest, Usage
from agents.providers.sse import MAX_LINE_BYTES, ChatStreamParser


def data(chunk: object) -> bytes:
    return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"


def delta(text: str, finish: str | None = None) -> bytes:
    return data({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


def test_all_the_events_of_one_read_come_out_as_one_text() -> None:
    parser = ChatStreamParser()
    assert parser.feed(delta("Hello") + delta(", ") + delta("world")) == "Hello, world"


def test_an_event_split_across_reads_waits_for_its_end() -> None:
    parser = ChatStreamParser()
    whole = delta("Grüße")  # a two-byte character, cut in the middle below
    cut = whole.index("ü".encode()) + 1
    assert parser.feed(whole[:cut]) == ""
    assert parser.feed(whole[cut:]) == "Grüße"


def test_crlf_line_ends_comments_and_other_fields_are_understood() -> None:
    parser = ChatStreamParser()
    stream = (
        b": keep-alive\r\nevent: message\r\nid: 7\r\n"
        b'data: {"choices": [{"delta": {"content": "ok"}}]}\r\n\r\n'
    )
    assert parser.feed(stream) == "ok"


def test_the_data_lines_of_one_event_are_joined() -> None:
    parser = ChatStreamParser()
    assert parser.feed(b'data: {"choices":\ndata: [{"delta": {"content": "two lines"}}]}\n\n') == (
        "two lines"
    )


def test_finish_reason_usage_and_done_are_kept() -> None:
    parser = ChatStreamParser()
    usage = {"prompt_tokens": 3, "completion_tokens": 1}
    parser.feed(delta("Hé", finish="length") + data({"choices": [], "usage": usage}))
    assert not parser.done and parser.finished
    assert (parser.finish_reason, parser.usage) == ("length", Usage(3, 1))
    parser.feed(b"data: [DONE]\n\n")
    assert parser.done


def test_a_last_event_without_its_blank_line_still_counts_at_the_end() -> None:
    parser = ChatStreamParser()
    assert parser.feed(delta("a") + b"data: [DONE]") == "a"
    assert not parser.done
    parser.end()
    assert parser.done


def test_a_stream_without_finish_or_done_is_not_finished() -> None:
    parser = ChatStreamParser()
    parser.feed(delta("half an ans"))
    parser.end()
    assert not parser.finished


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b'{"choices": []} trailing',
        b"[1, 2]",
        b'{"choices": ["not a choice"]}',
        b'{"choices": [{"delta": {"content": 5}}]}',
        b'{"error": {"message": "overloaded"}}',
    ],
)
def test_a_malformed_chunk_or_a_streamed_error_is_a_provider_error(payload: bytes) -> None:
    with pytest.raises(ProviderError) as failed:
        ChatStreamParser().feed(b"data: " + payload + b"\n\n")
    assert failed.value.code == "provider_error"


def test_bytes_that_are_not_utf8_are_a_provider_error() -> None:
    with pytest.raises(ProviderError) as failed:
        ChatStreamParser().feed(b"data: \xff\xfe{}\n\n")
    assert failed.value.code == "provider_error"


def test_a_line_that_never_ends_is_a_provider_error_not_a_memory_leak() -> None:
    parser = ChatStreamParser()
    parser.feed(b"data: " + b"x" * (MAX_LINE_BYTES // 2))
    with pytest.raises(ProviderError) as failed:
        parser.feed(b"x" * (MAX_LINE_BYTES // 2 + 1))
    assert failed.value.code == "provider_error"


# --- tool calls ---------------------------------------------------------------------------


def calls(*fragments: dict[str, object], finish: str | None = None) -> bytes:
    """One chunk whose delta carries ``tool_calls`` fragments."""
    choice = {"index": 0, "delta": {"tool_calls": list(fragments)}, "finish_reason": finish}
    return data({"choices": [choice]})


def opening(index: int, call_id: str | None, name: str, arguments: str = "") -> dict[str, object]:
    fragment: dict[str, object] = {
        "index": index,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    if call_id is not None:
        fragment["id"] = call_id
    return fragment


def more(index: int, arguments: str) -> dict[str, object]:
    return {"index": index, "function": {"arguments": arguments}}


FINISH = data({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})


def test_a_text_answer_has_no_tool_calls() -> None:
    parser = ChatStreamParser()
    parser.feed(delta("Hi", finish="stop"))
    assert parser.tool_calls() == ()


def test_a_call_streamed_in_fragments_is_assembled_across_reads() -> None:
    stream = (
        calls(opening(0, "call_abc", "calculator"))
        + calls(more(0, '{"expre'))
        + calls(more(0, 'ssion": "12 * '))
        + calls(more(0, '(3 + 4)"}'))
        + FINISH
        + b"data: [DONE]\n\n"
    )
    parser = ChatStreamParser()
    for start in range(0, len(stream), 7):  # reads cut lines, events and JSON anywhere
        assert parser.feed(stream[start : start + 7]) == ""
    assert parser.end() == ""
    assert parser.finished and parser.finish_reason == "tool_calls"
    assert parser.tool_calls() == (
        ToolCallRequest("call_abc", "calculator", '{"expression": "12 * (3 + 4)"}'),
    )


def test_two_parallel_calls_interleaved_come_out_in_index_order() -> None:
    parser = ChatStreamParser()
    parser.feed(
        calls(opening(1, "call_b", "current_datetime"))
        + calls(opening(0, "call_a", "calculator", '{"expression"'))
        + calls(more(1, "{"), more(0, ': "6 * 7"'))
        + calls(more(0, "}"))
        + calls(more(1, "}"))
        + FINISH
    )
    assert parser.tool_calls() == (
        ToolCallRequest("call_a", "calculator", '{"expression": "6 * 7"}'),
        ToolCallRequest("call_b", "current_datetime", "{}"),
    )


def test_text_before_a_call_is_still_text() -> None:
    parser = ChatStreamParser()
    text = parser.feed(
        delta("Let me ")
        + delta("check.")
        + calls(opening(0, "call_1", "current_datetime", "{}"))
        + FINISH
    )
    assert text == "Let me check."
    assert parser.tool_calls() == (ToolCallRequest("call_1", "current_datetime", "{}"),)


def test_text_and_a_call_in_one_delta_are_both_kept() -> None:
    choice = {"delta": {"content": "On it.", "tool_calls": [opening(0, "c", "lookup", "{}")]}}
    parser = ChatStreamParser()
    assert parser.feed(data({"choices": [choice]})) == "On it."
    assert parser.tool_calls() == (ToolCallRequest("c", "lookup", "{}"),)


def test_a_call_without_an_id_is_given_one_by_its_index() -> None:
    parser = ChatStreamParser()
    parser.feed(calls(opening(0, None, "lookup", "{}"), opening(1, None, "lookup", '{"q"')))
    parser.feed(calls(more(1, ": 1}")) + FINISH)
    assert parser.tool_calls() == (
        ToolCallRequest("call_0", "lookup", "{}"),
        ToolCallRequest("call_1", "lookup", '{"q": 1}'),
    )


def test_fragments_without_an_index_continue_the_call_at_their_position() -> None:
    fragment = {"id": "x", "function": {"name": "lookup", "arguments": "{}"}}
    parser = ChatStreamParser()
    parser.feed(data({"choices": [{"delta": {"tool_calls": [fragment]}}]}) + FINISH)
    assert parser.tool_calls() == (ToolCallRequest("x", "lookup", "{}"),)


def test_null_fields_and_a_repeated_name_are_harmless() -> None:
    parser = ChatStreamParser()
    parser.feed(
        calls(opening(0, "c", "lookup"))
        + calls({"index": 0, "id": None, "function": {"name": "lookup", "arguments": "{}"}})
        + data({"choices": [{"delta": {"content": None, "tool_calls": None}}]})
        + FINISH
    )
    assert parser.tool_calls() == (ToolCallRequest("c", "lookup", "{}"),)


def test_malformed_arguments_are_passed_on_verbatim() -> None:
    parser = ChatStreamParser()
    parser.feed(calls(opening(0, "c", "calculator", '{"expression": 1+')) + FINISH)
    assert parser.tool_calls()[0].arguments == '{"expression": 1+'


@pytest.mark.parametrize(
    "tool_calls",
    [
        "not a list",
        {"index": 0},
        ["not a fragment"],
        [{"index": "0", "function": {"name": "f"}}],
        [{"index": -1, "function": {"name": "f"}}],
        [{"index": True, "function": {"name": "f"}}],
        [{"index": 0, "id": 7, "function": {"name": "f"}}],
        [{"index": 0, "function": "f"}],
        [{"index": 0, "function": {"name": ["f"]}}],
        [{"index": 0, "function": {"name": "f", "arguments": {"a": 1}}}],
    ],
)
def test_garbage_in_tool_calls_is_a_provider_error(tool_calls: object) -> None:
    with pytest.raises(ProviderError) as failed:
        ChatStreamParser().feed(data({"choices": [{"delta": {"tool_calls": tool_calls}}]}))
    assert failed.value.code == "provider_error"


def test_a_call_that_never_got_a_name_is_a_provider_error() -> None:
    parser = ChatStreamParser()
    parser.feed(calls(more(0, "{}")) + FINISH)
    with pytest.raises(ProviderError) as failed:
        parser.tool_calls()
    assert failed.value.code == "provider_error"
