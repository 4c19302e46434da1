"""Why an answer failed, in a stable code for tests and analytics and in words for people."""

from __future__ import annotations

ERROR_TEXTS: dict[str, str] = {
    "timeout": "The model took too long to answer. Please try again.",
    "unavailable": "The model could not be reached. Please try again in a moment.",
    "dropped": "The connection to the model broke off before the answer was finished.",
    "provider_error": "The model provider reported an error. Please try again.",
    "rate_limited": "The model provider is busy right now. Please try again in a moment.",
    "auth": "The model provider refused Orion's credentials. An administrator needs to check "
    "the configuration.",
    "bad_request": "The model provider could not process this conversation.",
    "interrupted": "The answer was interrupted before it finished (the server restarted).",
    "stopped": "Stopped.",
    "bad_structure": "The model's answer did not have the structure this step needs.",
    "internal": "Something went wrong on our side while answering. Please try again.",
}


def error_text(code: str) -> str:
    """The explanation shown for a failed reply's error code ("internal"'s for unknown ones)."""
    return ERROR_TEXTS.get(code) or ERROR_TEXTS["internal"]


class AnswerError(Exception):
    """An answer that could not be given: ``code`` for machines, ``user_message`` for people."""

    def __init__(self, code: str, user_message: str | None = None) -> None:
        self.code = code
        self.user_message = user_message if user_message is not None else error_text(code)
        super().__init__(f"{code}: {self.user_message}")
