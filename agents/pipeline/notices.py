"""What the page says under an answer that no model wrote (or that a fallback gave)."""

from __future__ import annotations

ANSWERED_BY_TEXTS: dict[str, str] = {
    "cache": "Answered from the cache: this question was answered before.",
    "rule": "Answered by a rule set up by Orion's administrators, without a model.",
    "guard": "Not sent to the model: this message looked like an attempt to change how "
    "Orion works.",
    "knowledge": "The model is unavailable; this is what the knowledge base says.",
    "static": "The model is unavailable right now; this is a standard reply.",
    "offline": "Offline mode: no model is configured.",
}


def answered_by_text(answered_by: str) -> str:
    """The notice for an answer given by ``answered_by`` ("" for the model's own)."""
    return ANSWERED_BY_TEXTS.get(answered_by, "")
