"""Structured output: a stage that asks the model for JSON checks the answer against a
schema (a pydantic model) and gives the model one try to repair it.

``structured_parse(text, Schema)`` takes the JSON out of the answer (a fenced block is
allowed) and validates it; on a mismatch, ``repair`` (by default the model itself, with
the ``structured.repair`` prompt, recorded as a job) gets the text, what is wrong and the
schema, and its answer is checked once more. A second failure is an ``AnswerError``
("bad_structure").
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from agents.pipeline.errors import AnswerError
from agents.pipeline.jobs import job_complete

T = TypeVar("T", bound=BaseModel)
Repair = Callable[[str, str, str], Awaitable[str]]  # (text, problem, schema) -> new text

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)
REPAIR_PROMPT = "structured.repair"


def json_part(text: str) -> str:
    """The JSON in a model's answer: a fenced block's content, else the text itself."""
    match = _FENCE.search(text)
    return (match.group(1) if match else text).strip()


def _problem(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'the whole'}: {e['msg']}" for e in error.errors()
    )[:2000]


async def repair_with_model(text: str, problem: str, schema: str) -> str:
    asked = f"Text:\n{text}\n\nWhat is wrong: {problem}\n\nSchema:\n{schema}"
    return await job_complete("repair", REPAIR_PROMPT, asked, max_tokens=1024) or ""


async def structured_parse(text: str, schema: type[T], *, repair: Repair = repair_with_model) -> T:
    """``text`` as a ``schema`` instance, after at most one repair; raises ``AnswerError``."""
    try:
        return schema.model_validate_json(json_part(text))
    except ValidationError as first:
        problem = _problem(first)
    fixed = await repair(text, problem, json.dumps(schema.model_json_schema()))
    try:
        return schema.model_validate_json(json_part(fixed))
    except ValidationError as second:
        raise AnswerError("bad_structure") from second
