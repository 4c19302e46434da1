"""What the page says under an answer that no model wrote (or that a fallback gave)."""

from __future__ import annotations

ANSWERED_BY_TEXTS: dict[str, str] = {
    "cache": "Answered from the cache: this question was answered before.",
    "rule": "Answered by a rule set up by Orion's administrators, without a model.",
    "guard": "Not sent to the model: this message looked like an attempt to change how "
    "Orion works.",
    "knowledge": "Not written by a model: passages from the knowledge base, as they are.",
    "static": "The model is unavailable right now; this is a standard reply.",
    "offline": "Offline mode: no model is configured.",
}


def answered_by_text(answered_by: str) -> str:
    """The notice for an answer given by ``answered_by`` ("" for the model's own)."""
    return ANSWERED_BY_TEXTS.get(answered_by, "")


def tools_used_text(names: list[str]) -> str:
    """The line above an answer that used tools: "Used the calculator and the date"."""
    from agents.tools import TOOLS  # (the registry imports the knowledge base's search)

    labels = list(dict.fromkeys(
        (tool.label or tool.name) if (tool := TOOLS.get(name)) else name for name in names
    ))  # fmt: skip
    if not labels:
        return ""
    listed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return f"Used {listed}"
