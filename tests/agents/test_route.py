"""Staff's rules: answers without a model."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from agents.models import Rule
from agents.pipeline import ReplyContext, replies_prepare

pytestmark = pytest.mark.django_db


def ask(text: str) -> ReplyContext:
    (context,) = replies_prepare([[{"role": "user", "content": text}]])
    return context


def test_the_first_matching_rule_by_priority_answers_with_its_template() -> None:
    Rule.objects.create(name="hours", pattern=r"opening hours|when are you open",
                        answer="We are open **9–17**, Monday to Friday.", priority=20)  # fmt: skip
    Rule.objects.create(name="city", pattern=r"office in (?P<city>\w+)",
                        answer="We have no office in {city} yet. You asked: {question}",
                        priority=10)  # fmt: skip
    context = ask("What are your opening hours?")
    assert context.ready is not None
    assert context.ready.text == "We are open **9–17**, Monday to Friday."
    assert context.ready.answered_by == "rule"
    route = [s for s in context.run.steps if s.name == "route"][0]
    assert (route.outcome, route.detail) == ("rule", {"rule": "hours"})
    city = ask("Do you have an office in Lyon?").ready
    assert city is not None
    assert city.text == "We have no office in Lyon yet. You asked: Do you have an office in Lyon?"


def test_a_disabled_rule_does_not_answer_and_the_question_goes_on() -> None:
    Rule.objects.create(name="hours", pattern="opening hours", answer="9-17", enabled=False)
    context = ask("opening hours?")
    assert context.ready is None
    assert [s.outcome for s in context.run.steps] == ["allow", "miss", "pass", "skip", "offered"]


def test_the_admin_refuses_a_broken_pattern_or_an_unknown_placeholder() -> None:
    with pytest.raises(ValidationError) as broken:
        Rule(name="x", pattern="(unclosed", answer="hi").full_clean()
    assert "pattern" in broken.value.message_dict
    with pytest.raises(ValidationError) as unknown:
        Rule(name="y", pattern=r"office in (?P<city>\w+)", answer="In {town}?").full_clean()
    assert "{town}" in unknown.value.message_dict["answer"][0]
    Rule(name="z", pattern=r"office in (?P<city>\w+)", answer="In {city}: {question}").full_clean()


def test_a_placeholder_that_is_not_a_plain_name_is_refused_and_never_breaks_a_burst() -> None:
    with pytest.raises(ValidationError):
        Rule(name="attr", pattern="hello", answer="{question.upper}").full_clean()
    Rule.objects.create(name="attr", pattern="hello", answer="Hi: {question.nope}")
    context = ask("hello there")
    assert context.ready is not None and context.ready.text == "Hi: {question.nope}"
