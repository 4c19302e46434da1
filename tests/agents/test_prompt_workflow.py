"""Changing a prompt safely, without HTTP: placeholders, the diff, and the workflow's
states (draft, review, published, retired) with who did what."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from agents.diffs import text_diff
from agents.models import CachedAnswer, Prompt, PromptEvent, PromptVersion
from agents.pipeline.config import staff_config
from agents.placeholders import PLACEHOLDERS, PlaceholderSpec, placeholder_problems, prompt_render
from agents.prompting import (
    PromptStateError,
    prompt_draft_save,
    prompt_draft_submit,
    prompt_history,
    prompt_published,
    prompt_text_clean,
    prompt_version_publish,
    prompt_version_rollback,
    prompt_version_send_back,
    prompts_install_shipped,
)
from tests.conftest import shipped_prompt

State = PromptVersion.State


# --- placeholders ----------------------------------------------------------------------------


def test_unknown_placeholders_are_named_and_literal_braces_are_text() -> None:
    problems = placeholder_problems("chat.system", "Hi {user} and {mood}, I am {assistant_name}.")
    assert problems == [
        "Unknown placeholders {user}, {mood}. This prompt can use: {assistant_name}, {today} "
        "(write {{name}} for a literal {name})."
    ]
    assert placeholder_problems("chat.system", 'Answer as JSON: {"a": {"b": 1}} or {{user}}.') == []
    assert placeholder_problems("chat.title", "Title for {today}")[0].startswith(
        "Unknown placeholder {today}. This prompt can use: none"
    )


def test_a_required_placeholder_left_out_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PLACEHOLDERS, "kb.answer", PlaceholderSpec(required=("passages",)))
    assert placeholder_problems("kb.answer", "Use these.") == [
        "Missing placeholder {passages}: this prompt must include it."
    ]
    assert placeholder_problems("kb.answer", "Use these: {passages}") == []


def test_placeholders_are_filled_when_the_prompt_is_sent(settings: object) -> None:
    values = {"assistant_name": "Orion", "today": datetime.date(2026, 12, 7).isoformat()}
    text = 'I am {assistant_name}; today is {today}. {{today}} and {"json": 1} stay.'
    assert prompt_render(text, values) == (
        'I am Orion; today is 2026-12-07. {today} and {"json": 1} stay.'
    )


def test_a_value_is_put_in_as_it_is_braces_and_all() -> None:
    passages = "[1] Templates\nWrite {{today}} or {today} in a prompt; {{{x}}} too."
    text = "Answer from these. {{passages}} is literal.\n{passages}"
    assert prompt_render(text, {"passages": passages, "today": "2026-12-07"}) == (
        "Answer from these. {passages} is literal.\n" + passages
    )
    assert prompt_render("{{{x}}} {{y} {z}}", {"x": "X", "y": "Y", "z": "Z"}) == "{{x}} {{y} {z}}"


def test_a_prompt_text_is_cleaned_or_refused_in_words() -> None:
    assert (
        prompt_text_clean(key="chat.system", text="  Be kind.\r\nBe brief.  \n")
        == "Be kind.\nBe brief."
    )
    for text, words in [("   ", "empty"), ("x" * 20_001, "at most 20,000"),
                        ("Hi {nobody}", "Unknown placeholder {nobody}")]:  # fmt: skip
        with pytest.raises(ValidationError) as caught:
            prompt_text_clean(key="chat.system", text=text)
        assert words in " ".join(caught.value.messages)


# --- the diff ---------------------------------------------------------------------------------


def test_the_diff_marks_changed_words_inside_changed_lines_and_escapes_everything() -> None:
    diff = text_diff("Be kind.\nAnswer in <b>English</b>.\nEnd.",
                     "Be kind.\nAnswer in <b>French</b>.\nEnd.\nSign off.")  # fmt: skip
    html = str(diff.html)
    assert "<del>English</del><ins>French</ins>" in html
    assert "<ins>Sign off.</ins>" in html
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert (diff.added_lines, diff.removed_lines) == (2, 1)


def test_a_long_unchanged_run_is_folded_and_no_change_says_so() -> None:
    old = "\n".join(f"line {n}" for n in range(30))
    diff = text_diff(old, old.replace("line 15", "line fifteen"))
    assert "unchanged lines" in str(diff.html) and str(diff.html).count("diff-same") == 6
    same = text_diff("Same.", "Same.")
    assert not same.changed and "No changes." in str(same.html)


# --- the workflow -----------------------------------------------------------------------------


@pytest.fixture
def editor(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user("edith", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Prompt editors"))
    return user


@pytest.fixture
def publisher(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user("paul", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Prompt publishers"))
    return user


def system_prompt() -> Prompt:
    return Prompt.objects.get(key="chat.system")


@pytest.mark.django_db
def test_shipped_prompts_are_published_once_and_never_overwritten() -> None:
    prompt = system_prompt()
    v1 = prompt.versions.get()
    assert (v1.number, v1.state, v1.text) == (1, State.PUBLISHED, shipped_prompt("chat.system"))
    PromptVersion.objects.filter(pk=v1.pk).update(text="Staff's own words.")
    assert prompts_install_shipped() == []  # the next deploy's migrate
    assert prompt.versions.get().text == "Staff's own words."
    prompt.delete()
    assert "chat.system" in prompts_install_shipped()  # a prompt new to this install


@pytest.mark.django_db
def test_an_editor_drafts_and_submits_and_a_publisher_sends_back_then_publishes(
    editor: User, publisher: User
) -> None:
    prompt = system_prompt()
    v1 = prompt_published(prompt=prompt)
    assert v1 is not None
    assert prompt_draft_save(prompt=prompt, text=v1.text, note="", user=editor) == (None, False)
    draft, changed = prompt_draft_save(prompt=prompt, text="Be brief.", note="shorter",
                                       user=editor)  # fmt: skip
    assert changed and draft is not None and (draft.number, draft.state) == (2, State.DRAFT)
    again, changed = prompt_draft_save(prompt=prompt, text="Be very brief.", note="shorter",
                                       user=editor)  # fmt: skip
    assert again == draft and changed  # one open draft, edited in place
    with pytest.raises(PermissionDenied):
        prompt_version_publish(version=draft, user=editor)
    prompt_draft_submit(version=draft, user=editor, note="please look")
    with pytest.raises(PromptStateError, match="in review"):
        prompt_draft_save(prompt=prompt, text="Sneaky edit.", note="", user=editor)
    with pytest.raises(ValidationError):
        prompt_version_send_back(version=draft, user=publisher, comment="  ")
    prompt_version_send_back(version=draft, user=publisher, comment="Say hello first.")
    prompt_draft_save(prompt=prompt, text="Hello. Be very brief.", note="greets", user=editor)
    prompt_draft_submit(version=draft, user=editor)
    prompt_version_publish(version=draft, user=publisher)

    v1.refresh_from_db()
    draft.refresh_from_db()
    assert (v1.state, draft.state, draft.text) == (State.RETIRED, State.PUBLISHED,
                                                   "Hello. Be very brief.")  # fmt: skip
    assert staff_config().prompt("chat.system").label == "chat.system v2"
    trail = [(e.action, e.actor.username if e.actor else None, e.note)
             for e in PromptEvent.objects.filter(version=draft)]  # fmt: skip
    assert trail == [
        ("saved", "edith", "shorter"), ("saved", "edith", "shorter"),
        ("submitted", "edith", "please look"), ("sent_back", "paul", "Say hello first."),
        ("saved", "edith", "greets"), ("submitted", "edith", ""), ("published", "paul", ""),
    ]  # fmt: skip


@pytest.mark.django_db
def test_rolling_back_publishes_an_earlier_version_again(publisher: User) -> None:
    prompt = system_prompt()
    v1 = prompt_published(prompt=prompt)
    assert v1 is not None
    draft, _ = prompt_draft_save(prompt=prompt, text="Version two.", note="", user=publisher)
    assert draft is not None
    prompt_version_publish(version=draft, user=publisher)
    with pytest.raises(PromptStateError, match="only a version that was published before"):
        prompt_version_rollback(version=draft, user=publisher)
    prompt_version_rollback(version=v1, user=publisher)
    assert staff_config().prompt("chat.system").label == "chat.system v1"
    history = prompt_history(prompt=prompt)
    assert [(r.version.number, r.version.state) for r in history] == [
        (2, State.RETIRED), (1, State.PUBLISHED)]  # fmt: skip
    assert [e.action for e in history[1].version.events.all()] == [
        "published", "retired", "rolled_back"]  # fmt: skip
    with pytest.raises(PromptStateError, match="only a draft or a version in review"):
        prompt_version_publish(version=v1, user=publisher)


@pytest.mark.django_db
def test_a_retired_versions_stored_answers_are_deleted_so_no_fallback_serves_them(
    publisher: User,
) -> None:
    prompt = system_prompt()
    v1 = prompt_published(prompt=prompt)
    assert v1 is not None
    expires = timezone.now() + datetime.timedelta(days=1)
    for label in ("chat.system v1", "chat.system v9"):
        CachedAnswer.objects.create(
            key=label.replace(" ", "-"), question_key="q", question="q", answer="a",
            prompt_version=label, expires_at=expires,
        )  # fmt: skip
    draft, _ = prompt_draft_save(prompt=prompt, text="Version two.", note="", user=publisher)
    assert draft is not None
    prompt_version_publish(version=draft, user=publisher)
    assert list(CachedAnswer.objects.values_list("prompt_version", flat=True)) == [
        "chat.system v9"]  # fmt: skip


@pytest.mark.django_db
def test_a_version_never_published_cannot_be_rolled_back_to(publisher: User) -> None:
    prompt = system_prompt()
    never = PromptVersion.objects.create(prompt=prompt, number=7, text="Unreviewed.",
                                         state=State.RETIRED)  # fmt: skip
    with pytest.raises(PromptStateError, match="published before"):
        prompt_version_rollback(version=never, user=publisher)
    rows = {r.version.number: r.was_published for r in prompt_history(prompt=prompt)}
    assert rows == {7: False, 1: True}


@pytest.mark.django_db
def test_a_huge_rewrite_is_shown_line_by_line() -> None:
    old, new = "a b " * 3000, "c d " * 3000
    html = str(text_diff(old, new).html)
    assert html.count("<del>") == 1 and html.count("<ins>") == 1  # whole lines, not words


@pytest.mark.django_db
def test_only_what_replies_use_makes_every_process_reload(publisher: User) -> None:
    prompt = system_prompt()
    token = staff_config().token
    draft, _ = prompt_draft_save(prompt=prompt, text="Draft.", note="", user=publisher)
    assert draft is not None
    prompt_draft_submit(version=draft, user=publisher)
    assert staff_config().token == token  # drafts and reviews change no reply
    prompt_version_publish(version=draft, user=publisher)
    assert staff_config().token != token
