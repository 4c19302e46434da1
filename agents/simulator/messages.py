"""Reading chat messages as clients send them: plain dicts or the SDK's TypedDicts, a
``content`` that is a string, a list of parts or None (an assistant's tool calls)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Chat messages as plain dicts or the SDK's TypedDicts (hence Mapping, not dict).
Messages = Sequence[Mapping[str, Any]]


def content_text(content: Any) -> str:
    """Plain text of a message ``content``: a string, a list of parts, or None (tool calls)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return " ".join(parts)
    return str(content)


def last_user_text(messages: Messages) -> str:
    """Text of the last user message, where the ``[sim:...]`` markers are read."""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""
