"""The simulator's replies from the knowledge-base passages in its prompt: answering from
the best of them with its number, and the markers that keep working with them."""

from __future__ import annotations

import time

import openai
import pytest

from agents.simulator import (
    SimToolCall,
    grounded_answer,
    simulated_reply,
    simulated_tool_calls,
)
from tests.agents.test_simulator_tools import (
    TOOLS,
    Message,
    answered,
    client,
    create,
    sim,
    text_of,
    user,
)

__all__ = ["client", "sim"]  # (fixtures: the tool tests' own)

# --- replies from passages --------------------------------------------------------------------

PASSAGES = """Use the passages below.
<passages>
[1] Orion guide › Exporting conversations
Open the conversation menu and choose Export. It downloads Markdown
or JSON. Nothing else is needed.

[2] Orion guide › Stopping an answer
Press the Stop button while an answer streams to end it at once. The text so far
stays. You can ask again.

[3] Orion guide › Stopping early
Stopping works for every answer.
</passages>"""


def grounded(question: str, system: str = PASSAGES) -> str | None:
    return grounded_answer([{"role": "system", "content": system}, *user(question)])


def test_the_passage_sharing_most_words_is_quoted_with_its_number() -> None:
    assert grounded("How do I stop an answer while it streams? [sim:tokens=3]") == (
        "According to the knowledge base [2]: Press the Stop button while an answer streams "
        "to end it at once. The text so far stays."
    )
    assert grounded("Can I export a conversation as JSON?") == (
        "According to the knowledge base [1]: Open the conversation menu and choose Export. "
        "It downloads Markdown or JSON."
    )


def test_the_prose_marker_answers_with_prose_though_passages_came() -> None:
    assert grounded("How do I stop an answer while it streams? [sim:prose]") is None
    assert grounded("How do I stop an answer while it streams?") is not None


def test_ties_go_to_the_lower_number_and_titles_count() -> None:
    assert (
        grounded("Orion guide")
        == grounded("guide")
        == grounded_answer([{"role": "system", "content": PASSAGES}, *user("guide")])
    )
    assert (grounded("guide") or "").startswith("According to the knowledge base [1]:")
    assert (grounded("early") or "").startswith("According to the knowledge base [3]:")
    reordered = PASSAGES.replace("[1] Orion", "[9] Orion")
    assert (grounded("guide", reordered) or "").startswith("According to the knowledge base [2]:")


def test_no_shared_word_means_the_usual_reply_without_a_citation() -> None:
    messages = [{"role": "system", "content": PASSAGES}, *user("What is the weather in Paris?")]
    assert grounded_answer(messages) is None
    assert "knowledge base" not in "".join(simulated_reply(messages, 40))
    assert grounded("How do I stop?", "No passages here.") is None
    assert grounded("How do I stop?", "<passages>\n[1] Stop\nStop.") is None  # never closed


def test_a_long_passage_is_cut_at_a_word_to_400_characters() -> None:
    words = " ".join(["stopping"] * 80)
    answer = grounded("stopping", f"<passages>\n[1] Long\n{words}\n</passages>") or ""
    excerpt = answer.split(": ", 1)[1]
    assert excerpt.endswith("stopping…") and len(excerpt) <= 401


def test_tool_results_win_over_passages(client: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": PASSAGES}, *user("How do I stop? 6 * 7")]
    calls = simulated_tool_calls(messages, TOOLS)
    assert calls == [SimToolCall("call_0", "calculator", '{"expression": "6 * 7"}')]
    messages += answered(calls, "42")
    completion = create(client, messages)
    assert completion.choices[0].message.content == "The calculator gives 42."


def test_a_passage_reply_streams_whole_and_honours_pacing_markers(client: openai.OpenAI) -> None:
    messages: list[Message] = [
        {"role": "system", "content": PASSAGES},
        *user("How do I stop an answer? [sim:ttft=120]"),
    ]
    began = time.monotonic()
    stream = create(client, messages, stream=True)
    assert text_of(stream) == grounded_answer(messages)
    assert time.monotonic() - began >= 0.12
    messages[-1]["content"] = "How do I stop an answer? [sim:drop=4]"
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in create(client, messages, stream=True):
            received.append(chunk)
    assert text_of(received) == "According to the knowledge"
