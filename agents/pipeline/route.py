"""Routing: staff's rules answer what needs no model (opening hours, a contact address).

The first enabled rule, by priority, whose pattern matches the question answers it with
its template; ``{question}`` and the pattern's named groups fill it in. A template that
names something else is refused in the admin; one written around it answers as written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from agents.pipeline.config import CompiledRule, StaffConfig
from agents.pipeline.stages import ReadyAnswer, ReplyContext


def rule_answer(rule: CompiledRule, match: re.Match[str], question: str) -> str:
    values = {"question": question, **{k: v or "" for k, v in match.groupdict().items()}}
    try:
        return rule.answer.format_map(values)
    except Exception:  # a template written around the admin's checks answers as written
        return rule.answer


def rule_first_match(rules: Iterable[CompiledRule], question: str) -> tuple[str, str] | None:
    """The first of ``rules`` (in order: by priority) matching ``question``, as (its name,
    its answer filled in); None when none does and a model answers."""
    for rule in rules:
        if match := rule.regex.search(question):
            return rule.name, rule_answer(rule, match, question)
    return None


class RouteStage:
    """Answers with the first matching rule."""

    name = "route"

    def prepare(self, contexts: list[ReplyContext], config: StaffConfig) -> None:
        for context in contexts:
            began = time.perf_counter()
            found = rule_first_match(config.rules, context.question)
            if found is None:
                context.run.step(self.name, began, "pass", {"rules": len(config.rules)})
                continue
            name, text = found
            context.ready = ReadyAnswer(text, answered_by="rule")
            context.run.step(self.name, began, "rule", {"rule": name})

    async def answer(self, context: ReplyContext) -> None:
        return None
