"""Parsing a streamed chat completion's server-sent events, read by read."""

from __future__ import annotations

import json

import pytest

from agents.providers import ProviderError, Usage
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
