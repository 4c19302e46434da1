"""Validation of what people type. Pure functions: no HTTP, no sockets, no database."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings

# C0/C1 control characters except tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
MAX_FRAME_BYTES = 64 * 1024
TITLE_MAX_CHARS = 200


class InputError(ValueError):
    """Input a person can fix; ``code`` is stable for tests and analytics."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class SendCommand:
    text: str


@dataclass(frozen=True, slots=True)
class RetryCommand:
    message_id: int


Command = SendCommand | RetryCommand


def clean_message_text(raw: Any) -> str:
    """The message as it will be stored, or an ``InputError`` saying what is wrong."""
    if not isinstance(raw, str):
        raise InputError("malformed", "The message could not be read. Please try again.")
    text = _CONTROL.sub("", unicodedata.normalize("NFC", raw)).replace("\r\n", "\n").strip()
    if not text:
        raise InputError("empty", "Type a message before sending.")
    limit = settings.ORION_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise InputError(
            "too_long",
            f"Your message is {len(text):,} characters long; the limit is {limit:,}. "
            "Shorten it and send again.",
        )
    return text


def clean_title(raw: Any) -> str:
    if not isinstance(raw, str):
        raise InputError("malformed", "The title could not be read.")
    title = " ".join(_CONTROL.sub("", raw).split())
    if not title:
        raise InputError("empty", "A title cannot be empty.")
    if len(title) > TITLE_MAX_CHARS:
        raise InputError("too_long", f"A title can be at most {TITLE_MAX_CHARS} characters.")
    return title


def parse_frame(raw: str | bytes | None) -> Command:
    """Parse one WebSocket frame from the page (htmx's ws-send JSON) into a command."""
    if raw is None or isinstance(raw, bytes):
        raise InputError("malformed", "The message could not be read. Please try again.")
    if len(raw) > MAX_FRAME_BYTES + settings.ORION_MAX_MESSAGE_CHARS * 4:
        raise InputError("too_long", "That message is far too long to send.")
    try:
        data = json.loads(raw)
    except ValueError:
        raise InputError("malformed", "The message could not be read. Please try again.") from None
    if not isinstance(data, dict):
        raise InputError("malformed", "The message could not be read. Please try again.")
    action = data.get("action") or "send"
    if action == "send":
        return SendCommand(text=clean_message_text(data.get("message")))
    if action == "retry":
        try:
            return RetryCommand(message_id=int(data.get("message_id", "")))
        except (TypeError, ValueError):
            raise InputError("malformed", "That reply cannot be retried.") from None
    raise InputError("malformed", "The page sent something Orion does not understand.")
