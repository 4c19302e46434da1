"""Sketches: a fragment rendered once with markers in place of its values, then filled in.

A burst of sends shows a hundred exchanges and then a hundred first texts while the model
is thinking, and a streaming reply sends a delta every few tens of milliseconds: a
template render each costs more than joining a few strings (bench/README.md,
"Decisions"). Fragments whose values are shown as they are (escaped, not filtered or
tested) are rendered once per process with a marker per value; ``fill`` puts the values
back, escaped as the template would. Each sketch is checked against a full render of a
sample before use, and a fragment that cannot be sketched is rendered in full.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.utils.html import conditional_escape

from chat.models import Message
from chat.rendering import render_fragment

_SLOT = re.compile("\x00(\\d+)\x00")


def slot(index: int) -> str:
    """A marker to render in place of a value, for ``sketch`` (no template has it)."""
    return f"\x00{index}\x00"


@dataclass(frozen=True)
class Sketch:
    """HTML rendered once with ``slot(i)`` in place of value ``i``, cut at the markers.

    ``fill`` puts values back where the template showed them, escaped as the template
    would: a template render becomes a few string joins.
    """

    texts: list[str]  # the HTML between the markers
    order: list[int]  # which value goes in each gap

    def fill(self, values: Sequence[Any]) -> str:
        out = [self.texts[0]]
        for index, text in zip(self.order, self.texts[1:], strict=True):
            out.append(conditional_escape(values[index]))
            out.append(text)
        return "".join(out)


def sketch(html: str, count: int) -> Sketch | None:
    """``html`` cut at the markers ``slot(0)`` ... ``slot(count - 1)``; None unless each
    came out as is, at least once (a filter or a test on the value would change it)."""
    parts = _SLOT.split(html)
    texts, order = parts[0::2], [int(index) for index in parts[1::2]]
    return Sketch(texts, order) if set(order) == set(range(count)) else None


@cache
def _fragment_sketch(name: str, fields: tuple[str, ...]) -> Sketch:
    """The fragment rendered once with a marker per field."""
    found = sketch(
        render_fragment(name, {field: slot(i) for i, field in enumerate(fields)}), len(fields)
    )
    if found is None:
        raise ValueError(f"fragment {name} must show each of {fields} as is")
    return found


def fragment_renderer(name: str, *fields: str) -> Callable[..., str]:
    """A renderer for a hot fragment whose fields are plain values shown as they are.

    Same output as ``render_fragment`` (values are escaped as the template would), at the
    cost of a few string joins: for frames sent many times a second.
    """

    def render(**values: Any) -> str:
        return _fragment_sketch(name, fields).fill([values[field] for field in fields])

    return render


@cache
def message_sketch(role: str, status: str) -> Sketch | None:
    def render(first: Message) -> str:
        return render_fragment("message", {"m": first})

    return checked_sketch(render, [(role, status)])


@cache
def exchange_sketch(
    user_role: str, user_status: str, reply_role: str, reply_status: str
) -> Sketch | None:
    def render(user: Message, reply: Message) -> str:
        return render_fragment("exchange", {"user_message": user, "reply": reply})

    return checked_sketch(render, [(user_role, user_status), (reply_role, reply_status)])


def checked_sketch(render: Callable[..., str], kinds: list[tuple[str, str]]) -> Sketch | None:
    """The sketch of ``render`` for messages of these (role, status) kinds, or None if
    filling it in does not give what the template gives for a sample (a template that
    tests or filters the id or the text cannot be sketched)."""
    found = sketch(
        render(*(stand_in(*kind, 2 * i) for i, kind in enumerate(kinds))), 2 * len(kinds)
    )
    samples = [Message(pk=4321 + i, role=role, status=status, content=f"<b>&\"x{i}\"</b>\n")
               for i, (role, status) in enumerate(kinds)]  # fmt: skip
    values = [value for m in samples for value in (m.pk, m.content)]
    if found is None or found.fill(values) != render(*samples):
        return None
    return found


def stand_in(role: str, status: str, first: int) -> Message:
    """A message whose id and text are the markers ``slot(first)`` and ``slot(first + 1)``."""
    return Message(pk=slot(first), role=role, status=status, content=slot(first + 1))
