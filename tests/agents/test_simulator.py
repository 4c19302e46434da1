"""The LLM simulator, exercised over real HTTP with the official openai SDK.

No database: every test talks to a simulator running in a background thread on a free port.
Timing assertions are lower bounds only; a loaded CI machine may always be slower.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from agents.management.commands.llm_simulator import Command, config_from_options
from agents.simulator import (
    DEFAULT_MODEL,
    SimulatorConfig,
    SimulatorThread,
    run_in_thread,
    simulated_embedding,
    simulated_reply,
)

try:
    import httpx
except ImportError:  # some environments ship only the httpx2 fork that openai imports
    import httpx2 as httpx  # type: ignore[no-redef]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def fast(**overrides: Any) -> SimulatorConfig:
    """A free-port simulator that answers in milliseconds: 30 tokens at 1000 tokens/s."""
    defaults: dict[str, Any] = {"port": 0, "ttft_ms": 5, "tokens_per_sec": 1000, "reply_tokens": 30}
    return SimulatorConfig(**{**defaults, **overrides})


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with run_in_thread(fast()) as running:
        yield running


@pytest.fixture
def client(sim: SimulatorThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim.base_url, api_key="test", max_retries=0) as sdk:
        yield sdk


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


def stream_chunks(
    sdk: openai.OpenAI, messages: list[ChatCompletionMessageParam], **kwargs: Any
) -> list[Any]:
    return list(
        sdk.chat.completions.create(model="test-model", messages=messages, stream=True, **kwargs)
    )


def streamed_text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def content_chunks(chunks: list[Any]) -> list[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


# --- replies as a pure function -------------------------------------------------------------


def test_simulated_reply_reads_like_english_sentences() -> None:
    tokens = simulated_reply(user("Tell me about the weather."), 80)

    assert len(tokens) == 80
    assert tokens[0][0].isupper() and not tokens[0].startswith(" ")
    # (a token opening a paragraph carries its blank line: " \n\nThe")
    assert all(t.startswith(" ") and " " not in t[1:] and t.strip() for t in tokens[1:])
    text = "".join(tokens)
    assert ". " in text
    for previous, token in zip(tokens, tokens[1:], strict=False):
        if previous.endswith((".", "!")):
            assert token.strip()[0].isupper(), text


def test_simulated_reply_is_deterministic_and_depends_on_the_messages() -> None:
    first = simulated_reply(user("What is Django?"), 40)

    assert simulated_reply(user("What is Django?"), 40) == first
    assert simulated_reply(user("What is Flask?"), 40) != first
    with_system = [{"role": "system", "content": "Be brief."}, *user("What is Django?")]
    assert simulated_reply(with_system, 40) != first


def test_a_shorter_reply_is_a_prefix_of_the_longer_one() -> None:
    messages = user("Explain HTTP keep-alive.")

    assert simulated_reply(messages, 7) == simulated_reply(messages, 50)[:7]
    assert simulated_reply(messages, 0) == []


def test_title_requests_get_a_short_title_from_the_last_user_message() -> None:
    messages = [
        {"role": "system", "content": "Write a short title for this conversation."},
        {"role": "user", "content": "How do I configure PostgreSQL replication in Django?"},
    ]

    title = "".join(simulated_reply(messages, 60))

    assert title == "Configure PostgreSQL Replication Django"
    words = title.split()
    assert 2 <= len(words) <= 6
    assert all(w[0].isupper() for w in words)
    assert title[-1].isalnum()
    assert simulated_reply([messages[0], *user("hi")], 60) == ["New", " Conversation"]


def test_simulated_embedding_is_a_deterministic_unit_vector() -> None:
    vector = simulated_embedding("the quick brown fox")

    assert len(vector) == 64
    assert math.isclose(sum(x * x for x in vector), 1.0, rel_tol=1e-9)
    assert simulated_embedding("the quick brown fox") == vector
    assert simulated_embedding("a lazy dog") != vector


def test_simulated_embeddings_put_texts_sharing_words_close() -> None:
    def cosine(a: str, b: str) -> float:
        return sum(
            x * y for x, y in zip(simulated_embedding(a), simulated_embedding(b), strict=True)
        )

    question = "How do I stop a streaming reply?"

    # Stop words go, and "stopped", "streams", "replies" meet "stop", "stream", "reply".
    assert cosine(question, "The replies stopped streaming.") == pytest.approx(1.0)
    assert cosine(question, "Press Stop to end a reply.") > 0.5
    assert cosine(question, "Change your password on the account page.") < 0.3
    assert cosine("Press Stop to end a reply.", "press stop to end a reply") == pytest.approx(1)
    # Nothing but stop words (or nothing at all) is one fixed unit vector.
    assert simulated_embedding("") == simulated_embedding("of the and") == [1.0] + [0.0] * 63


# --- chat completions over HTTP -------------------------------------------------------------


def test_streaming_yields_exactly_the_simulated_reply(client: openai.OpenAI) -> None:
    messages = user("Write me a haiku about servers.")

    chunks = stream_chunks(client, messages)

    assert streamed_text(chunks) == "".join(simulated_reply(messages, 30))
    assert content_chunks(chunks) == simulated_reply(messages, 30)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.model == "test-model" and c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert all(c.usage is None for c in chunks)


def test_include_usage_adds_a_final_usage_chunk_without_choices(client: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You are terse."},
        *user("Count the words in here please"),
    ]

    chunks = stream_chunks(client, messages, stream_options={"include_usage": True})

    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 9
    assert chunks[-1].usage.completion_tokens == 30
    assert chunks[-1].usage.total_tokens == 39
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_non_streaming_returns_the_whole_reply_with_usage(client: openai.OpenAI) -> None:
    messages = user("Summarise the plot of Hamlet.")

    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "".join(simulated_reply(messages, 30))
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (5, 30)


def test_the_same_request_gets_the_same_text_and_a_different_one_different_text(
    client: openai.OpenAI,
) -> None:
    first = streamed_text(stream_chunks(client, user("Tell me a story.")))

    assert streamed_text(stream_chunks(client, user("Tell me a story."))) == first
    assert streamed_text(stream_chunks(client, user("Tell me a joke."))) != first


def test_max_tokens_cuts_the_reply_with_finish_reason_length(client: openai.OpenAI) -> None:
    messages = user("Go on at length.")

    chunks = stream_chunks(client, messages, max_tokens=4)
    completion = client.chat.completions.create(
        model="m", messages=messages, max_completion_tokens=4
    )

    assert content_chunks(chunks) == simulated_reply(messages, 4)
    assert chunks[-1].choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "".join(simulated_reply(messages, 4))
    assert completion.choices[0].finish_reason == "length"


def test_a_max_tokens_above_the_reply_length_finishes_with_stop(client: openai.OpenAI) -> None:
    chunks = stream_chunks(client, user("Short please."), max_tokens=500)

    assert len(content_chunks(chunks)) == 30
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_the_tokens_marker_sets_the_reply_length(client: openai.OpenAI) -> None:
    messages = user("Answer briefly [sim:tokens=3]")

    assert content_chunks(stream_chunks(client, messages)) == simulated_reply(messages, 3)


def test_the_error_marker_raises_internal_server_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="m", messages=user("Fail please [sim:error]"))
    with pytest.raises(openai.InternalServerError):
        stream_chunks(client, user("Fail please [sim:error]"))

    assert raised.value.status_code == 500
    assert raised.value.body["code"] == "simulated_error"  # type: ignore[index]


def test_the_drop_marker_breaks_the_stream_after_exactly_n_tokens(client: openai.OpenAI) -> None:
    messages = user("Start talking [sim:drop=3]")
    received: list[Any] = []

    # The SDK surfaces the unfinished chunked body as a connection error mid-iteration.
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="m", messages=messages, stream=True):
            received.append(chunk)

    assert content_chunks(received) == simulated_reply(messages, 3)
    assert all(c.choices[0].finish_reason is None for c in received)


def test_a_dropped_non_streaming_request_gets_no_response(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=user("Never mind [sim:drop=2]"))


def test_a_client_hanging_up_mid_stream_frees_the_stream() -> None:
    config = SimulatorConfig(port=0, ttft_ms=5, tokens_per_sec=200, reply_tokens=1000)
    body = json.dumps({"model": "m", "stream": True, "messages": user("long one")}).encode()
    with run_in_thread(config) as running:
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as raw:
            raw.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\n"
                b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
            )
            assert raw.recv(4096).startswith(b"HTTP/1.1 200 OK")
        deadline = time.monotonic() + 3
        while running.stats()["active_streams"] and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = running.stats()

    assert stats["active_streams"] == 0
    assert stats["tokens"] < 1000


def test_drop_after_in_the_config_applies_to_every_stream() -> None:
    messages = user("Anything at all")
    with (
        run_in_thread(fast(drop_after=2)) as dropping,
        openai.OpenAI(base_url=dropping.base_url, api_key="k", max_retries=0) as sdk,
    ):
        received: list[Any] = []
        with pytest.raises(openai.APIConnectionError):
            for chunk in sdk.chat.completions.create(model="m", messages=messages, stream=True):
                received.append(chunk)

        assert content_chunks(received) == simulated_reply(messages, 2)
        assert dropping.stats()["drops"] == 1


def test_error_rate_injects_the_same_errors_for_the_same_seed() -> None:
    def outcomes(seed: int) -> list[str]:
        config = fast(error_rate=0.5, seed=seed)
        with (
            run_in_thread(config) as flaky,
            openai.OpenAI(base_url=flaky.base_url, api_key="k", max_retries=0) as sdk,
        ):
            results = []
            for i in range(16):
                try:
                    sdk.chat.completions.create(model="m", messages=user(f"q{i} [sim:tokens=1]"))
                    results.append("ok")
                except openai.InternalServerError:
                    results.append("error")
            return results

    first = outcomes(seed=7)

    assert outcomes(seed=7) == first
    assert {"ok", "error"} == set(first)


def test_a_configured_api_key_is_enforced_with_401() -> None:
    with run_in_thread(fast(api_key="s3cret")) as guarded:
        with (
            openai.OpenAI(base_url=guarded.base_url, api_key="wrong", max_retries=0) as sdk,
            pytest.raises(openai.AuthenticationError),
        ):
            sdk.chat.completions.create(model="m", messages=user("hello"))
        with (
            openai.OpenAI(base_url=guarded.base_url, api_key="wrong", max_retries=0) as sdk,
            pytest.raises(openai.AuthenticationError),
        ):
            sdk.models.list()
        with openai.OpenAI(base_url=guarded.base_url, api_key="s3cret", max_retries=0) as sdk:
            completion = sdk.chat.completions.create(model="m", messages=user("hello"))

    assert completion.choices[0].message.content == "".join(simulated_reply(user("hello"), 30))


# --- other endpoints ------------------------------------------------------------------------


def test_models_lists_the_default_model_and_echoes_any_requested_one(
    client: openai.OpenAI,
) -> None:
    models = client.models.list()

    assert [m.id for m in models.data] == [DEFAULT_MODEL]
    assert models.data[0].object == "model"
    assert client.models.retrieve("gpt-whatever").id == "gpt-whatever"


def test_embeddings_are_deterministic_unit_vectors_in_openai_shape(
    client: openai.OpenAI,
) -> None:
    texts = ["the quick brown fox", "jumps over the lazy dog"]

    # The SDK asks for base64 by default and decodes it; "float" is the plain JSON form.
    default = client.embeddings.create(model="embed-sim", input=texts)
    as_float = client.embeddings.create(model="embed-sim", input=texts, encoding_format="float")
    single = client.embeddings.create(model="embed-sim", input="the quick brown fox")

    assert default.object == "list" and default.model == "embed-sim"
    assert [d.index for d in default.data] == [0, 1]
    assert default.usage.prompt_tokens == 9 and default.usage.total_tokens == 9
    for item, text in zip(as_float.data, texts, strict=True):
        assert item.embedding == pytest.approx(simulated_embedding(text))
        assert math.isclose(sum(x * x for x in item.embedding), 1.0, rel_tol=1e-9)
    for item, text in zip(default.data, texts, strict=True):
        assert item.embedding == pytest.approx(simulated_embedding(text), abs=1e-6)
    assert single.data[0].embedding == pytest.approx(default.data[0].embedding)
    assert default.data[0].embedding != pytest.approx(default.data[1].embedding)


def test_embeddings_honour_dimensions(sim: SimulatorThread) -> None:
    response = httpx.post(
        f"{sim.base_url}/embeddings",
        json={"model": "e", "input": "hello", "dimensions": 8, "encoding_format": "base64"},
    )

    raw = base64.b64decode(response.json()["data"][0]["embedding"])
    assert list(struct.unpack("<8f", raw)) == pytest.approx(simulated_embedding("hello", 8))


def test_the_thread_runner_reports_its_real_port_and_releases_it() -> None:
    with run_in_thread(fast()) as running:
        port = running.port
        assert port > 0
        assert running.base_url == f"http://127.0.0.1:{port}/v1"
        assert httpx.get(f"{running.base_url}/models").status_code == 200

    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


# --- HTTP behaviour -------------------------------------------------------------------------


def test_bad_json_gets_a_400_with_an_openai_style_error(sim: SimulatorThread) -> None:
    response = httpx.post(
        f"{sim.base_url}/chat/completions",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    assert error["code"] == "invalid_json"


def test_missing_messages_get_a_400(sim: SimulatorThread) -> None:
    response = httpx.post(f"{sim.base_url}/chat/completions", json={"model": "m"})

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_an_unknown_path_gets_a_404_json_error(sim: SimulatorThread) -> None:
    response = httpx.get(f"{sim.url}/v1/nothing-here")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_two_streams_share_one_keep_alive_connection() -> None:
    with run_in_thread(fast()) as running, httpx.Client() as http:
        bodies = []
        for question in ("first question", "second question"):
            with http.stream(
                "POST",
                f"{running.base_url}/chat/completions",
                json={"model": "m", "messages": user(question), "stream": True},
            ) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                bodies.append(response.read().decode())

        assert all(body.rstrip().endswith("data: [DONE]") for body in bodies)
        assert running.stats()["connections"] == 1


def test_sse_events_carry_the_fields_the_sdk_needs(sim: SimulatorThread) -> None:
    response = httpx.post(
        f"{sim.base_url}/chat/completions",
        json={"model": "m", "messages": user("fields [sim:tokens=2]"), "stream": True},
    )

    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for event in map(json.loads, events[:-1]):
        assert set(event) >= {"id", "object", "created", "model", "choices"}
        assert set(event["choices"][0]) >= {"index", "delta", "finish_reason"}


# --- schedule and stats ---------------------------------------------------------------------


def test_tokens_follow_the_ttft_and_rate_schedule() -> None:
    config = SimulatorConfig(port=0, ttft_ms=100, tokens_per_sec=50, reply_tokens=10)
    with (
        run_in_thread(config) as paced,
        openai.OpenAI(base_url=paced.base_url, api_key="k", max_retries=0) as sdk,
    ):
        sdk.models.list()  # open the connection first so the timing is the server's alone
        started = time.perf_counter()
        first_token_at = None
        count = 0
        for chunk in sdk.chat.completions.create(model="m", messages=user("pace"), stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
                if first_token_at is None:
                    first_token_at = time.perf_counter() - started
        total = time.perf_counter() - started

    assert count == 10
    assert first_token_at is not None and first_token_at >= 0.095
    assert total >= 0.275  # ideal: 100 ms + 9 * 20 ms


def test_markers_override_ttft_and_rate(client: openai.OpenAI) -> None:
    started = time.perf_counter()
    stream_chunks(client, user("wait [sim:ttft=150][sim:tokens=1]"))
    waited_for_ttft = time.perf_counter() - started

    started = time.perf_counter()
    chunks = stream_chunks(client, user("slowly [sim:slow][sim:tokens=3]"))
    slow_total = time.perf_counter() - started

    assert waited_for_ttft >= 0.145
    assert len(content_chunks(chunks)) == 3
    assert slow_total >= 0.39  # 5 tokens/s: tokens at +0, +200, +400 ms


def test_sim_stats_reports_lateness_after_a_stream_and_reset_clears_it() -> None:
    with (
        run_in_thread(fast()) as running,
        openai.OpenAI(base_url=running.base_url, api_key="k", max_retries=0) as sdk,
    ):
        stream_chunks(sdk, user("measure me [sim:tokens=10]"))
        stats = httpx.get(f"{running.url}/sim/stats").json()
        reset = httpx.post(f"{running.url}/sim/stats/reset")
        after = httpx.get(f"{running.url}/sim/stats").json()

    assert (stats["requests"], stats["streams"], stats["tokens"]) == (1, 1, 10)
    lateness = stats["lateness_ms"]
    assert set(lateness) == {"p50", "p95", "p99", "max"}
    assert 0 <= lateness["p50"] <= lateness["p95"] <= lateness["p99"] <= lateness["max"]
    assert reset.status_code == 200
    assert (after["requests"], after["streams"], after["tokens"]) == (0, 0, 0)
    assert after["lateness_ms"]["max"] == 0


async def test_fifty_concurrent_async_streams_all_complete_with_the_right_text() -> None:
    config = SimulatorConfig(port=0, ttft_ms=20, tokens_per_sec=200, reply_tokens=20)
    with run_in_thread(config) as running:
        async with openai.AsyncOpenAI(base_url=running.base_url, api_key="k", max_retries=0) as sdk:

            async def one(i: int) -> tuple[list[ChatCompletionMessageParam], str]:
                messages = user(f"concurrent question number {i}")
                stream = await sdk.chat.completions.create(
                    model="m", messages=messages, stream=True
                )
                parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
                return messages, "".join(parts)

            results = await asyncio.gather(*(one(i) for i in range(50)))
        stats = running.stats()

    for messages, text in results:
        assert text == "".join(simulated_reply(messages, 20))
    assert stats["streams"] == 50 and stats["tokens"] == 50 * 20
    assert stats["active_streams"] == 0


# --- management command ---------------------------------------------------------------------


def test_the_command_maps_its_flags_onto_the_config() -> None:
    parser = Command().create_parser("manage.py", "llm_simulator")
    options = vars(
        parser.parse_args(
            [
                "--port", "9100", "--host", "localhost", "--ttft-ms", "50",
                "--tokens-per-sec", "25", "--reply-tokens", "12", "--error-rate", "0.25",
                "--drop-after", "4", "--drop-rate", "0.5", "--api-key", "k", "--seed", "3",
            ]
        )
    )  # fmt: skip

    config = config_from_options(options)

    assert config == SimulatorConfig(
        host="localhost",
        port=9100,
        ttft_ms=50,
        tokens_per_sec=25,
        reply_tokens=12,
        error_rate=0.25,
        drop_after=4,
        drop_rate=0.5,
        api_key="k",
        seed=3,
    )
    assert config_from_options(vars(parser.parse_args([]))) == SimulatorConfig()


def test_the_command_serves_until_sigterm_and_exits_cleanly() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    script = (
        "from agents.management.commands.llm_simulator import Command;"
        "Command().run_from_argv(['manage.py', 'llm_simulator', '--port', '0', '--ttft-ms', '1'])"
    )
    process = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in banner
        base_url = banner.split("listening on ")[1].split()[0]
        assert httpx.get(f"{base_url}/models").json()["data"][0]["id"] == DEFAULT_MODEL

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=5)

    assert process.returncode == 0, err
    assert "stopped" in out
