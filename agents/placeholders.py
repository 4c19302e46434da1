"""Placeholders in prompts: ``{name}`` in a prompt's text is filled in when it is sent.

Each prompt says which names it may use and which it must use (``PLACEHOLDERS``); a draft
naming an unknown one, or leaving out a required one, is refused when it is saved, never
discovered when a reply is sent. Only ``{`` + a plain name + ``}`` is a placeholder: other
braces (a JSON example, say) are text, and ``{{name}}`` is the literal ``{name}``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
# Either, in one pass over a prompt's text: a literal ``{{name}}`` or a placeholder.
_ESCAPED_OR_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|" + _PLACEHOLDER.pattern)


@dataclass(frozen=True, slots=True)
class PlaceholderSpec:
    allowed: tuple[str, ...] = ()  # names the prompt may use
    required: tuple[str, ...] = ()  # names it must use (also allowed)

    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.required, *self.allowed)))


# What each prompt's text may name. Values come from ``placeholder_values``.
PLACEHOLDERS: dict[str, PlaceholderSpec] = {
    "chat.system": PlaceholderSpec(allowed=("assistant_name", "today")),
    "chat.knowledge": PlaceholderSpec(required=("passages",), allowed=("assistant_name", "today")),
}
DESCRIPTIONS: dict[str, str] = {
    "assistant_name": "the assistant's name (ORION_ASSISTANT_NAME, “Orion” by default)",
    "today": "today's date, such as 2026-12-07",
    "passages": "the knowledge-base passages found for the question, numbered [1], [2]…",
}


def placeholders_used(text: str) -> list[str]:
    """The names ``text`` uses, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(text)))


def placeholder_problems(key: str, text: str) -> list[str]:
    """What is wrong with the placeholders of ``text`` as prompt ``key``, in words
    (empty when nothing is)."""
    spec = PLACEHOLDERS.get(key, PlaceholderSpec())
    used = placeholders_used(text)
    problems = []
    if unknown := [name for name in used if name not in spec.names()]:
        can = ", ".join(f"{{{n}}}" for n in spec.names()) or "none"
        problems.append(
            f"Unknown placeholder{'s' if len(unknown) > 1 else ''} "
            + ", ".join(f"{{{n}}}" for n in unknown)
            + f". This prompt can use: {can} (write {{{{name}}}} for a literal {{name}})."
        )
    if missing := [name for name in spec.required if name not in used]:
        problems.append(
            f"Missing placeholder{'s' if len(missing) > 1 else ''} "
            + ", ".join(f"{{{n}}}" for n in missing)
            + ": this prompt must include "
            + ("them." if len(missing) > 1 else "it.")
        )
    return problems


def placeholder_values(today: datetime.date | None = None) -> dict[str, str]:
    return {
        "assistant_name": settings.ORION_ASSISTANT_NAME,
        "today": (today or timezone.localdate()).isoformat(),
    }


def prompt_render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with its placeholders filled from ``values`` (a name without a value stays
    as written) and ``{{name}}`` made ``{name}``. The values go in as they are: braces in
    them (a passage quoting a template, say) are their text, never read as placeholders."""
    if "{" not in text:
        return text
    return "".join(
        piece if isinstance(piece, str) else values.get(piece[0], piece[1])
        for piece in _pieces(text)
    )


@lru_cache(maxsize=256)
def _pieces(text: str) -> tuple[str | tuple[str, str], ...]:
    """A prompt's text in pieces, read once per text (a reply fills them in): literal text
    (``{{name}}`` already made ``{name}``), and (name, as written) for each placeholder."""
    pieces: list[str | tuple[str, str]] = []
    at = 0
    for match in _ESCAPED_OR_PLACEHOLDER.finditer(text):
        pieces.append(text[at : match.start()])
        literal, name = match.groups()
        pieces.append(f"{{{literal}}}" if literal is not None else (name, match.group(0)))
        at = match.end()
    pieces.append(text[at:])
    return tuple(pieces)
