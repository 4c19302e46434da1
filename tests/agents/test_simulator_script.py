"""What the simulator does for the pipeline's tests: on-topic replies with the markdown a
question asks for, a required opening, exact continuation of a reply cut short, and
settings changed while it runs (``/sim/control``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from agents.simulator import SimulatorConfig, SimulatorThread, run_in_thread, simulated_reply
from chat.rendering import render_markdown

try:
    import httpx
except ImportError:  # some environments ship only the httpx2 fork that openai imports
    import httpx2 as httpx  # type: ignore[no-redef]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    config = SimulatorConfig(port=0, ttft_ms=5, tokens_per_sec=1000, reply_tokens=40)
    with run_in_thread(config) as running:
        yield running


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def reply(messages: list[dict[str, str]], n: int = 80) -> str:
    return "".join(simulated_reply(messages, n))


def test_a_reply_picks_up_the_words_of_the_question() -> None:
    text = reply(user("Tell me about lighthouses and keepers"), 120).lower()
    assert "lighthouses" in text or "keepers" in text


@pytest.mark.parametrize(
    ("question", "element"),
    [("Give me a list of tips for sleeping well", "<ul>"),
     ("Show me a table of the planets", "<table>"),
     ("Write a SQL query for the orders", '<code class="language-sql">'),
     ("Write a function that parses dates", '<code class="language-python">')],
)  # fmt: skip
def test_a_question_asking_for_markdown_gets_it(question: str, element: str) -> None:
    assert element in render_markdown(reply(user(question)))


def test_a_required_opening_begins_every_reply() -> None:
    messages = [
        {"role": "system", "content": "Be kind.\nAlways begin your answer with: Ahoy there!"},
        {"role": "user", "content": "How are you?"},
    ]
    assert reply(messages, 10).startswith("Ahoy there! ")
    assert not reply(user("How are you?"), 10).startswith("Ahoy")


@pytest.mark.parametrize("cut", [1, 5, 17, 40, 101])
def test_a_reply_cut_anywhere_is_continued_to_the_same_text(cut: int) -> None:
    messages = user("Explain tides, with a list")
    whole = reply(messages, 40)
    shown = whole[:cut]
    rest = reply([*messages, {"role": "assistant", "content": shown}], 40)
    assert shown + rest == whole


def test_an_assistant_message_that_is_not_the_start_gets_a_reply_of_its_own() -> None:
    messages = [*user("Explain tides"), {"role": "assistant", "content": "Something else."}]
    assert reply(messages, 20) != reply(user("Explain tides"), 20)[len("Something else.") :]


def test_continuation_over_http_returns_only_the_rest(sim: SimulatorThread) -> None:
    messages: list[Any] = user("Why is the sea salty?")  # (the SDK types its messages)
    whole = reply(messages, 40)
    shown = whole[:60]
    with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as sdk:
        chunks = sdk.chat.completions.create(
            model="m",
            messages=[*messages, {"role": "assistant", "content": shown}],  # type: ignore[arg-type]
            stream=True,
        )
        rest = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert shown + rest == whole


def test_control_changes_settings_while_running_and_refuses_bad_ones(
    sim: SimulatorThread,
) -> None:
    url = sim.base_url.removesuffix("/v1") + "/sim/control"
    before = httpx.get(url).json()
    assert before["drop_after"] is None and before["error_rate"] == 0
    changed = httpx.post(url, json={"drop_after": 3, "ttft_ms": 1})
    assert changed.status_code == 200 and changed.json()["drop_after"] == 3
    with (
        openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as sdk,
        pytest.raises(openai.APIConnectionError),
    ):
        list(sdk.chat.completions.create(model="m", messages=user("Hi"), stream=True))  # type: ignore[arg-type]
    bad_values = ({"drop_after": -1}, {"error_rate": 2}, {"drop_rate": -0.1},
                  {"colour": "blue"}, {"ttft_ms": "fast"})  # fmt: skip
    for bad in bad_values:
        refused = httpx.post(url, json=bad)
        assert refused.status_code == 400, bad
        assert re.search(r"Cannot apply", json.dumps(refused.json()))
    httpx.post(url, json={"drop_after": None, "ttft_ms": before["ttft_ms"]})
    assert httpx.get(url).json() == before


def test_a_drop_rate_breaks_that_share_of_streams_halfway(sim: SimulatorThread) -> None:
    url = sim.base_url.removesuffix("/v1") + "/sim/control"
    httpx.post(url, json={"drop_rate": 1.0})
    try:
        with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as sdk:
            received: list[str] = []
            messages: Any = user("Hi there")
            with pytest.raises(openai.APIConnectionError):
                stream: Any = sdk.chat.completions.create(model="m", messages=messages, stream=True)
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        received.append(chunk.choices[0].delta.content)
        assert received == simulated_reply(user("Hi there"), 20)  # 40 tokens, broken at 20
    finally:
        httpx.post(url, json={"drop_rate": 0.0})
