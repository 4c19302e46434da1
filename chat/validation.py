"""Validation of what people type. Pure functions: no HTTP, no sockets, no database."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings

# Removed from what people type: C0/C1 control characters except tab, newline and carriage
# return, and the bidirectional embeddings, overrides and isolates that make text display
# in an order other than the one it is stored in.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Halves of a UTF-16 pair on their own (JSON can carry them as escapes): not storable text.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Characters that show nothing although they are not whitespace (fillers, blank patterns).
_BLANK = frozenset("\u115f\u1160\u180e\u2800\u3164\uffa0")
MAX_FRAME_BYTES = 64 * 1024
UNSTORABLE = "Your message contains characters that cannot be stored. Remove them."
MESSAGE_ID_MAX = 2**63 - 1
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


def normalize_text(raw: str) -> str:
    """Text as Orion keeps it: NFC, ``\\n`` line ends, no control or bidi-override
    characters, no surrounding whitespace. The one place typed text is normalised; what is
    validated and stored is its result. Raises ``InputError`` for text that cannot be
    stored (lone surrogates)."""
    if _SURROGATE.search(raw):
        raise InputError("malformed", UNSTORABLE)
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def is_blank(text: str) -> bool:
    """Whether ``text`` would show nothing: only whitespace and invisible characters."""
    return all(
        ch.isspace() or ch in _BLANK or unicodedata.category(ch) in ("Cf", "Cc", "Zs")
        for ch in text
    )


def clean_message_text(raw: Any) -> str:
    """The message as it will be stored, or an ``InputError`` saying what is wrong."""
    if not isinstance(raw, str):
        raise InputError("malformed", "The message could not be read. Please try again.")
    text = normalize_text(raw)
    if is_blank(text):
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
    title = " ".join(normalize_text(raw).split())
    if is_blank(title):
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
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise InputError("malformed", "The message could not be read. Please try again.") from None
    if not isinstance(data, dict):
        raise InputError("malformed", "The message could not be read. Please try again.")
    action = data.get("action") or "send"
    if action == "send":
        return SendCommand(text=clean_message_text(data.get("message")))
    if action == "retry":
        return RetryCommand(message_id=_message_id(data.get("message_id")))
    raise InputError("malformed", "The page sent something Orion does not understand.")


def _message_id(raw: Any) -> int:
    """A message id from the page: a positive integer, or its decimal digits."""
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 19:
        raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw <= MESSAGE_ID_MAX:
        return raw
    raise InputError("malformed", "That reply cannot be retried.")
