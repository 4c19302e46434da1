"""The agents' admin: staff read runs and transcripts with steps, add rules, patterns and
prompt versions, publish a version."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import GuardPattern, PromptVersion, Rule, Run, Step
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


def a_transcript() -> tuple[Conversation, Message, Run]:
    conversation = Conversation.objects.create(owner_anon="someone", title="Lighthouses")
    Message.objects.create(conversation=conversation, role="user", content="Tell me <b>x</b>")
    reply = Message.objects.create(conversation=conversation, role="assistant",
                                   content="An answer", answered_by="model")  # fmt: skip
    run = Run.objects.create(message=reply, answered_by="model", outcome="complete",
                             started_at=timezone.now(), provider="sim", model="m",
                             cost=Decimal("0.01"))  # fmt: skip
    for position, name in enumerate(["guard", "cache", "generate"]):
        Step.objects.create(run=run, position=position, name=name, start_ms=position,
                            duration_ms=1.25, outcome="ok")  # fmt: skip
    return conversation, reply, run


def test_the_transcript_links_the_prompt_version_and_names_the_fallback_tier(
    admin_client: Client,
) -> None:
    conversation, _, run = a_transcript()
    version = PromptVersion.objects.get(prompt__key="chat.system")
    Run.objects.filter(pk=run.pk).update(prompt_version=version, tokens_in=12, tokens_out=34,
                                         cache_tier="", answered_by="cache")  # fmt: skip
    Step.objects.filter(run=run, name="generate").update(outcome="unavailable",
                                                         detail={"provider": "sim-a"})  # fmt: skip
    Step.objects.create(run=run, position=3, name="degrade", start_ms=5, duration_ms=1,
                        outcome="cache", detail={"after": "unavailable"})  # fmt: skip
    url = reverse("admin:chat_conversation_change", args=[conversation.pk])
    page = admin_client.get(url).content.decode()
    link = reverse("admin:agents_prompt_change", args=[version.prompt_id]) + "#version-1"
    assert f'<a href="{link}">chat.system v1</a>' in page
    assert "12 → 34 tokens" in page and "tried: sim-a unavailable → ladder: cache" in page
    run_page = admin_client.get(reverse("admin:agents_run_change", args=[run.pk])).content.decode()
    assert f'<a href="{link}">chat.system v1</a>' in run_page
    assert "sim-a unavailable → ladder: cache" in run_page


def test_the_transcript_shows_each_reply_with_its_run_and_steps(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    conversation, _, run = a_transcript()
    url = reverse("admin:chat_conversation_change", args=[conversation.pk])
    with django_assert_max_num_queries(15):
        page = admin_client.get(url).content.decode()
    assert "guard ok (1.2 ms) → cache ok (1.2 ms) → generate ok (1.2 ms)" in page
    assert reverse("admin:agents_run_change", args=[run.pk]) in page
    assert "<b>x</b>" not in page  # what people typed is shown, never run
    assert 'name="_save"' not in page  # a record, even for a superuser


def test_a_run_page_lists_its_steps_and_cannot_be_edited(admin_client: Client) -> None:
    _, _, run = a_transcript()
    page = admin_client.get(reverse("admin:agents_run_change", args=[run.pk])).content.decode()
    assert page.count("field-duration_ms") >= 3
    assert 'name="_save"' not in page
    assert admin_client.get(reverse("admin:agents_run_add")).status_code == 403


def test_staff_add_a_rule_and_a_broken_pattern_is_a_form_error(admin_client: Client) -> None:
    url = reverse("admin:agents_rule_add")
    data = {"name": "hours", "pattern": "(unclosed", "answer": "9-5", "priority": 1,
            "enabled": "on"}  # fmt: skip
    page = admin_client.post(url, data).content.decode()
    assert "Not a valid regular expression" in page and not Rule.objects.exists()
    admin_client.post(url, {**data, "pattern": "opening hours"})
    assert Rule.objects.get().pattern == "opening hours"


def test_staff_add_a_guard_pattern(admin_client: Client) -> None:
    data = {"name": "codes", "pattern": "launch codes", "score": 3, "enabled": "on"}
    admin_client.post(reverse("admin:agents_guardpattern_add"), data)
    assert GuardPattern.objects.get().score == 3
