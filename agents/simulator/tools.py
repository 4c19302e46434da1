"""Tool calls and grounded answers: what the simulator does with ``tools``, tool results
and knowledge-base passages. Pure functions of the request, like the rest of the text.

``simulated_tool_calls`` decides whether a request offering ``tools`` is answered with
tool calls, and which; ``grounded_answer`` is the fixed text of a reply that quotes tool
results or a passage (None when the reply is the usual generated prose). The rules are
in the package docstring. Neither costs more than a look at the last messages when a
request has no ``tools``, no tool results and no ``<passages>`` block.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.simulator.messages import Messages, content_text, last_user_text
from agents.simulator.script import MARKER_RE

# ``[sim:tool=NAME JSON]`` / ``[sim:tool_repeat=NAME JSON]``: the JSON text is everything
# after the name up to the first "]" that ends the text or is followed by whitespace or
# "[" (the next marker), on one line. So ``{"a": [1, 2]}`` works; a "]" followed by a
# space inside the JSON would end the marker early.
TOOL_MARKER_RE = re.compile(r"\[sim:(tool|tool_repeat)=([\w.-]+)[ \t]*(.*?)\](?=\s|\[|$)")
_ANY_MARKER_RE = re.compile(r"\[sim:[^\]]*\]")
# A question with this marker is answered with generated prose even when passages came
# with it (a benchmark's fixed reply length, with the passages still sent).
PROSE_MARKER = "[sim:prose]"

CALCULATOR = "calculator"
CLOCK = "current_datetime"
RESULT_CHARS = 300  # characters of a tool result quoted in the answer
EXCERPT_CHARS = 400  # characters of a passage quoted in the answer
ARGUMENT_FRAGMENT_CHARS = 24  # the longest streamed piece of a call's arguments

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
# A run of what arithmetic is written with, holding a digit (from the run's start, so
# the spaces between words are not each a run); trimmed, it must hold NUMBER OPERATOR
# NUMBER.
_ARITHMETIC_CHARS = r"[0-9.()+\-*/×÷^\s]"
_ARITHMETIC_RUN_RE = re.compile(
    rf"(?<!{_ARITHMETIC_CHARS}){_ARITHMETIC_CHARS}*[0-9]{_ARITHMETIC_CHARS}*"
)
_ARITHMETIC_RE = re.compile(rf"{_NUMBER}\s*\)*\s*[-+*/×÷^]\s*[-(\s]*{_NUMBER}")
_CLOCK_WORDS_RE = re.compile(r"\b(?:today|date|time)\b", re.IGNORECASE)

_PASSAGES_OPEN = "<passages>"
_PASSAGES_CLOSE = "</passages>"
_PASSAGE_HEAD_RE = re.compile(r"\[(\d+)\][ \t]*(.*)")
_CONTENT_WORD_RE = re.compile(r"[^\W\d_]{3,}")
_SENTENCE_END_RE = re.compile(r"[.!?](?=\s|$)")
_STOPWORD_TEXT = """
    the and for are was were with that this these those what which who whom whose how why
    when where there here from have has had you your yours our ours their them they its
    not but can could would should will does did doing about into onto than then also any
    all some please tell explain give show want need know like just very more most much
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True, slots=True)
class SimToolCall:
    """One tool call the simulator makes: ``arguments`` is JSON text, perhaps malformed."""

    id: str
    name: str
    arguments: str


# -- tool calls ------------------------------------------------------------------------------


def simulated_tool_calls(
    messages: Messages, tools: Sequence[Mapping[str, Any]] | None
) -> list[SimToolCall]:
    """The calls the simulator makes instead of replying ([] for a reply).

    Only with ``tools`` offered. When the last message is the user's: one call per
    ``[sim:tool=...]`` or ``[sim:tool_repeat=...]`` marker in it; without markers,
    ``calculator`` for an arithmetic expression and ``current_datetime`` for "today",
    "date" or "time", when offered. After that (tool results came back): only the
    ``tool_repeat`` markers' calls, again. Ids are ``call_<n>``, ``n`` counting the calls
    the conversation's assistant messages already made.
    """
    if not tools or not messages:
        return []
    last = messages[-1]
    fresh = isinstance(last, Mapping) and last.get("role") == "user"
    text = last_user_text(messages)
    markers = list(TOOL_MARKER_RE.finditer(text)) if "[sim:tool" in text else []
    if not fresh:
        wanted = [_marked(m) for m in markers if m.group(1) == "tool_repeat"]
    elif markers:
        wanted = [_marked(m) for m in markers]
    else:
        wanted = _guessed(MARKER_RE.sub(" ", text), _offered_names(tools))
    if not wanted:
        return []
    made = _calls_made(messages)
    return [
        SimToolCall(f"call_{made + number}", name, arguments)
        for number, (name, arguments) in enumerate(wanted)
    ]


def arithmetic_expression(text: str) -> str | None:
    """The first arithmetic expression in ``text``, as written: two or more numbers joined
    by ``+ - * / × ÷ ^``, with parentheses. None when there is none."""
    for run in _ARITHMETIC_RUN_RE.finditer(text):
        expression = _trimmed(run.group())
        if _ARITHMETIC_RE.search(expression):
            return expression
    return None


def argument_fragments(arguments: str) -> list[str]:
    """How a call's arguments are streamed: in two pieces or more (when two characters
    or more), none longer than ``ARGUMENT_FRAGMENT_CHARS``."""
    size = max(1, min(ARGUMENT_FRAGMENT_CHARS, -(-len(arguments) // 2)))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def _marked(match: re.Match[str]) -> tuple[str, str]:
    return match.group(2), match.group(3).strip() or "{}"


def _guessed(text: str, offered: frozenset[str]) -> list[tuple[str, str]]:
    wanted = []
    if CALCULATOR in offered and (expression := arithmetic_expression(text)) is not None:
        wanted.append((CALCULATOR, json.dumps({"expression": expression}, ensure_ascii=False)))
    if CLOCK in offered and _CLOCK_WORDS_RE.search(text):
        wanted.append((CLOCK, "{}"))
    return wanted


def _offered_names(tools: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    names = set()
    for tool in tools:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return frozenset(names)


def _calls_made(messages: Messages) -> int:
    made = 0
    for message in messages:
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            calls = message.get("tool_calls")
            if isinstance(calls, list):
                made += len(calls)
    return made


def _trimmed(run: str) -> str:
    """A run of arithmetic characters without what cannot begin or end an expression:
    operators and dots at its edges, parentheses that close or open nothing."""
    expression = run
    while True:
        before = expression
        expression = expression.strip().lstrip("+*/×÷^.)").rstrip("+-*/×÷^.(")
        if expression.endswith(")") and expression.count(")") > expression.count("("):
            expression = expression[:-1]
        if expression.startswith("(") and expression.count("(") > expression.count(")"):
            expression = expression[1:]
        if expression == before:
            return expression


# -- grounded answers ------------------------------------------------------------------------


def grounded_answer(messages: Messages) -> str | None:
    """The fixed text of the reply to ``messages``: the tool results after the last user
    message quoted, else the passage of a ``<passages>`` block that best matches the
    question; None when the reply is generated prose."""
    results = _tool_results(messages)
    if results:
        return " ".join(_quoted(name, content) for name, content in results)
    block = _passages_block(messages)
    if block is None:
        return None
    asked = last_user_text(messages)
    if PROSE_MARKER in asked:  # passages read, generated prose all the same
        return None
    question = _ANY_MARKER_RE.sub(" ", TOOL_MARKER_RE.sub(" ", asked))
    return passage_answer(block, question)


def _tool_results(messages: Messages) -> list[tuple[str, str]]:
    """``(tool name, result text)`` of each ``tool`` message after the last user message,
    in order; the name comes from the assistant's call with that ``tool_call_id``."""
    results: list[Mapping[str, Any]] = []
    names: dict[str, str] = {}
    for message in reversed(messages):
        if not isinstance(message, (dict, Mapping)):  # dict first: the fast check
            continue
        role = message.get("role")
        if role == "user":
            break
        if role == "tool":
            results.append(message)
        elif role == "assistant" and isinstance(message.get("tool_calls"), list):
            for call in message["tool_calls"]:
                function = call.get("function") if isinstance(call, Mapping) else None
                if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                    names[str(call.get("id"))] = function["name"]
    if not results:
        return []
    return [
        (
            names.get(str(message.get("tool_call_id"))) or str(message.get("name") or "the tool"),
            content_text(message.get("content")),
        )
        for message in reversed(results)
    ]


def _quoted(name: str, content: str) -> str:
    result = content.strip()[:RESULT_CHARS].rstrip() or "(empty)"
    if result.startswith("Error"):
        sentence = f"The tool {name} failed: {result}"
    elif name == CALCULATOR:
        sentence = f"The calculator gives {result}"
    else:
        sentence = f"According to {name}: {result}"
    return sentence if sentence.endswith((".", "!", "?")) else sentence + "."


def _passages_block(messages: Messages) -> str | None:
    """What is between ``<passages>`` and ``</passages>`` in the first system message
    holding both (None when none does)."""
    for message in messages:
        if not isinstance(message, (dict, Mapping)):  # dict first: the fast check
            continue
        role = message.get("role")
        if role != "system" and role != "developer":
            continue
        text = content_text(message.get("content"))
        start = text.find(_PASSAGES_OPEN)
        if start < 0:
            continue
        start += len(_PASSAGES_OPEN)
        end = text.find(_PASSAGES_CLOSE, start)
        if end >= 0:
            return text[start:end]
    return None


@functools.lru_cache(maxsize=64)  # a reply's length and its tokens both ask
def passage_answer(block: str, question: str) -> str | None:
    """``According to the knowledge base [n]: <excerpt>`` for the passage of ``block``
    sharing the most content words with ``question`` (ties: the lower number); None
    when none shares one."""
    asked = _content_words(question)
    if not asked:
        return None
    best: tuple[int, int, str] | None = None  # (shared words, -number, text)
    for number, title, text in _passages(block):
        shared = len(asked & _content_words(f"{title} {text}"))
        if shared and (best is None or (shared, -number) > best[:2]):
            best = (shared, -number, text or title)
    if best is None:
        return None
    return f"According to the knowledge base [{-best[1]}]: {_excerpt(best[2])}"


def _passages(block: str) -> list[tuple[int, str, str]]:
    """``(number, title, text)`` of each passage: a ``[n] title`` line that opens the
    block or follows a blank line, then its text (whitespace runs made single spaces)."""
    passages: list[tuple[int, str, list[str]]] = []
    after_blank = True
    for line in block.split("\n"):
        stripped = line.strip()
        head = _PASSAGE_HEAD_RE.fullmatch(stripped) if after_blank else None
        if head is not None:
            passages.append((int(head.group(1)), head.group(2).strip(), []))
        elif passages and stripped:
            passages[-1][2].append(stripped)
        after_blank = not stripped
    return [(number, title, " ".join(" ".join(lines).split())) for number, title, lines in passages]


def _content_words(text: str) -> set[str]:
    return {w for w in _CONTENT_WORD_RE.findall(text.lower()) if w not in _STOPWORDS}


def _excerpt(text: str) -> str:
    """The first two sentences of ``text``, at most ``EXCERPT_CHARS`` (cut at a word,
    with "…")."""
    ends = [match.end() for match in _SENTENCE_END_RE.finditer(text)]
    excerpt = text[: ends[1]] if len(ends) >= 2 else text
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[:EXCERPT_CHARS].rsplit(" ", 1)[0].rstrip() + "…"
    return excerpt
