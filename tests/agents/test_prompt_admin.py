"""The prompt workflow through the admin, with the test client: edit → diff → preview →
submit → approve → publish → roll back; placeholders refused; who may do what; every
step in the admin's history; a publish seen by another process's next reply."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from asgiref.sync import sync_to_async
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.http import StreamingHttpResponse
from django.test import AsyncClient, Client
from django.urls import reverse

from agents.models import Prompt, PromptVersion, Run
from agents.prompting import prompt_base, prompt_draft_save, prompt_version_send_back
from tests import conftest
from tests.conftest import BASE_DIR

State = PromptVersion.State


def staff_client(django_user_model: type[User], name: str, group: str) -> Client:
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def editor(django_user_model: type[User]) -> Client:
    return staff_client(django_user_model, "edith", "Prompt editors")


@pytest.fixture
def publisher(django_user_model: type[User]) -> Client:
    return staff_client(django_user_model, "paul", "Prompt publishers")


def page_url(prompt: Prompt) -> str:
    return reverse("admin:agents_prompt_change", args=[prompt.pk])


def post(client: Client, prompt: Prompt, button: str, **data: str) -> Any:
    """Open the prompt's page, then press ``button`` with ``data`` in its fields."""
    page = client.get(page_url(prompt)).content.decode()
    found = re.search(r'name="base" value="([^"]*)"', page)
    base = html.unescape(found.group(1)) if found else ""
    fields = {"description": Prompt.objects.get(pk=prompt.pk).description, "text": "",
              "note": "", "base": base, **data, button: "1"}  # fmt: skip
    return client.post(page_url(prompt), fields, follow=True)


@pytest.mark.django_db
def test_the_whole_workflow_from_edit_to_roll_back(editor: Client, publisher: Client) -> None:
    prompt = Prompt.objects.get(key="chat.system")
    shipped = prompt.versions.get().text

    page = editor.get(page_url(prompt)).content.decode()
    for part in ('<textarea name="text"', 'name="note"', 'name="_save_draft"', 'name="_preview"',
                 'name="_submit"', shipped):  # fmt: skip
        assert part in page
    assert 'name="_publish"' not in page and 'data-action="rollback"' not in page

    draft_text = shipped.replace("concisely", "warmly") + "\nEnd with a question."
    page = post(editor, prompt, "_save_draft", text=draft_text, note="warmer").content.decode()
    assert "Saved the draft chat.system v2." in page
    assert "<del>concisely</del><ins>warmly</ins>" in page
    assert "End with a question.</ins>" in page

    reply = post(editor, prompt, "_preview", text=draft_text, note="warmer",
                 question="What is a lighthouse?")  # fmt: skip
    assert "?preview=" in reply.redirect_chain[-1][0]
    page = reply.content.decode()
    draft = prompt.versions.get(number=2)
    for version in (draft, prompt.versions.get(number=1)):
        url = reverse("admin:agents_prompt_preview", args=[prompt.pk, version.pk])
        assert f'data-url="{url}"' in page
    assert 'value="What is a lighthouse?"' in page  # the question stays in its field
    assert prompt.versions.count() == 2  # a preview saves the draft, never a new version
    again = editor.get(reply.redirect_chain[-1][0]).content.decode()
    assert "data-preview" not in again  # a reload (or a link) spends no model calls

    page = post(editor, prompt, "_submit", text=draft_text, note="warmer").content.decode()
    assert "Submitted chat.system v2 for review." in page
    assert "disabled" in page.split('name="text"')[1].split(">")[0]  # in review: frozen
    page = post(editor, prompt, "_publish").content.decode()
    assert "Only prompt publishers can publish" in page
    assert PromptVersion.objects.get(pk=draft.pk).state == State.REVIEW

    page = publisher.get(page_url(prompt)).content.decode()
    assert 'name="_publish"' in page and 'name="_send_back"' in page
    page = post(publisher, prompt, "_send_back", comment="").content.decode()
    assert "Say what should change" in page
    page = post(publisher, prompt, "_send_back", comment="Keep it concise too.").content.decode()
    assert "Sent chat.system v2 back: Keep it concise too." in page
    assert PromptVersion.objects.get(pk=draft.pk).state == State.DRAFT
    page = editor.get(page_url(prompt)).content.decode()
    notice = page.split('data-part="sent-back"')[1].split("</p>")[0]
    assert "Sent back by paul" in notice and "Keep it concise too." in notice

    post(editor, prompt, "_submit", text=draft_text + " Stay concise.", note="both")
    page = post(publisher, prompt, "_publish").content.decode()
    assert "Published chat.system v2." in page
    assert Prompt.objects.get(pk=prompt.pk).versions.get(state=State.PUBLISHED).number == 2

    v1 = prompt.versions.get(number=1)
    assert 'data-action="rollback"' in page and f'value="{v1.pk}"' in page
    # Enter in a field clicks the form's first button: Save draft, never a roll back.
    form = page.split('id="prompt_form"')[1]
    first_button = form.split('type="submit"')[1].split(">")[0]
    assert 'name="_save_draft"' in first_button
    rollback = reverse("admin:agents_prompt_rollback", args=[prompt.pk])
    assert editor.post(rollback, {"version": v1.pk}).status_code == 403
    assert PromptVersion.objects.get(pk=v1.pk).state == State.RETIRED
    page = publisher.post(rollback, {"version": v1.pk}, follow=True).content.decode()
    assert "Rolled back to chat.system v1 (was v2)." in page
    assert PromptVersion.objects.get(pk=v1.pk).state == State.PUBLISHED

    history = [e.get_change_message() for e in LogEntry.objects.order_by("pk")]
    assert history == [
        "Saved the draft chat.system v2.", "Submitted chat.system v2 for review.",
        "Sent chat.system v2 back: Keep it concise too.", "Saved the draft chat.system v2.",
        "Submitted chat.system v2 for review.", "Published chat.system v2.",
        "Rolled back to chat.system v1 (was v2).",
    ]  # fmt: skip


@pytest.mark.django_db
def test_a_page_left_open_while_someone_else_changed_the_draft_overwrites_nothing(
    editor: Client, publisher: Client, django_user_model: type[User]
) -> None:
    prompt = Prompt.objects.get(key="chat.system")
    seen = prompt_base(prompt=prompt)  # both open the page
    post(editor, prompt, "_save_draft", text="Edith's words.", note="")
    page = post(publisher, prompt, "_publish", text="Paul's words.", base=seen)
    assert "Someone changed this prompt since you opened the page" in page.content.decode()
    assert "Paul&#x27;s words." in page.content.decode()  # the typed text stays in the form
    draft = prompt.versions.get(number=2)
    assert (draft.text, draft.state) == ("Edith's words.", State.DRAFT)

    post(editor, prompt, "_submit", text="Edith's words.")
    reviewed = prompt_base(prompt=prompt)  # paul reads v2 in review...
    user = django_user_model.objects.get(username="paul")
    prompt_version_send_back(version=draft, user=user, comment="One more thing.")
    post(editor, prompt, "_submit", text="Edith's other words.")  # ...which changed since
    page = post(publisher, prompt, "_publish", base=reviewed)
    assert "Someone changed this prompt" in page.content.decode()
    assert prompt.versions.get(number=2).state == State.REVIEW


@pytest.mark.django_db
def test_unknown_placeholders_are_a_form_error_naming_them(publisher: Client) -> None:
    prompt = Prompt.objects.get(key="chat.system")
    page = post(publisher, prompt, "_save_draft", text="Hi {first_name}, I am {assistant_name}.")
    assert "Unknown placeholder {first_name}" in page.content.decode()
    assert prompt.versions.count() == 1
    page = post(publisher, prompt, "_preview", text="Be brief.", question="")
    assert "Type a sample question" in page.content.decode()


@pytest.mark.django_db
def test_any_two_versions_are_compared(publisher: Client, django_user_model: type[User]) -> None:
    prompt = Prompt.objects.get(key="chat.title")
    v1 = prompt.versions.get()
    user = django_user_model.objects.get(username="paul")
    v2, _ = prompt_draft_save(prompt=prompt, text=v1.text + " Use title case.", note="", user=user)
    assert v2 is not None
    url = reverse("admin:agents_prompt_diff", args=[prompt.pk])
    page = publisher.get(url, {"old": v1.pk, "new": v2.pk}).content.decode()
    assert "chat.title v1 → chat.title v2" in page and "<ins>Use</ins>" in page.replace(
        "<ins> Use title case.</ins>", "<ins>Use</ins>")  # fmt: skip


@pytest.mark.django_db
def test_the_prompt_pages_read_a_fixed_number_of_queries(
    publisher: Client, django_user_model: type[User], django_assert_max_num_queries: Any
) -> None:
    user = django_user_model.objects.get(username="paul")
    for prompt in Prompt.objects.all():
        text = "A draft. {passages}" if prompt.key == "chat.knowledge" else "A draft."
        prompt_draft_save(prompt=prompt, text=text, note="", user=user)
    with django_assert_max_num_queries(13):  # (the snapshot: prompts, rules, ..., tools)
        page = publisher.get(reverse("admin:agents_prompt_changelist")).content.decode()
    assert page.count("(draft)") == Prompt.objects.count()
    prompt = Prompt.objects.get(key="chat.system")
    for n in range(5):
        prompt_draft_save(prompt=prompt, text=f"Draft {n}.", note=str(n), user=user)
    with django_assert_max_num_queries(25):
        publisher.get(page_url(prompt))


@pytest.mark.django_db
def test_an_editor_sees_only_prompts_rules_guard_and_transcripts(editor: Client) -> None:
    index = editor.get(reverse("admin:index")).content.decode()
    for model in ("prompt", "rule", "guardpattern", "conversation"):
        assert f"/admin/{'chat' if model == 'conversation' else 'agents'}/{model}/" in index
    for forbidden in ("auth_user_changelist", "agents_provider_changelist",
                      "agents_cachedanswer_changelist", "auth_group_changelist"):  # fmt: skip
        assert editor.get(reverse(f"admin:{forbidden}")).status_code == 403
    assert editor.get(reverse("admin:agents_rule_add")).status_code == 200


# --- the preview, streamed ---------------------------------------------------------------------


async def streamed_lines(response: Any) -> list[dict[str, Any]]:
    content = cast(StreamingHttpResponse, response).streaming_content
    assert isinstance(content, AsyncIterator)
    return [json.loads(line) async for chunk in content for line in bytes(chunk).splitlines()]


@pytest.mark.django_db(transaction=True)
async def test_the_preview_streams_each_version_through_the_pipeline_and_records_a_run(
    django_user_model: type[User],
) -> None:
    user = await django_user_model.objects.acreate(username="root", is_staff=True,
                                                   is_superuser=True)  # fmt: skip
    prompt = await Prompt.objects.aget(key="chat.system")
    draft, _ = await sync_to_async(prompt_draft_save)(
        prompt=prompt, text="Always begin your answer with: Draft says hi.", note="", user=user
    )
    assert draft is not None
    client = AsyncClient()
    await client.aforce_login(user)
    url = reverse("admin:agents_prompt_preview", args=[prompt.pk, draft.pk])

    response = await client.post(url, {"question": "What is a lighthouse?"})
    assert response["Content-Type"] == "application/x-ndjson"
    lines = await streamed_lines(response)
    text = "".join(line.get("delta", "") for line in lines)
    assert text.startswith("Draft says hi.")
    assert lines[-1]["done"] and lines[-1]["answered_by"] == "model"

    run = await Run.objects.select_related("prompt_version").aget(kind="preview")
    assert (run.prompt_version, run.message_id, run.outcome) == (draft, None, "complete")
    await streamed_lines(await client.post(url, {"question": "What is a lighthouse?"}))
    assert await Run.objects.filter(kind="preview", cache_tier="").acount() == 2  # never cached

    refused = await client.post(url, {"question": " "})
    assert refused.status_code == 400 and "sample question" in json.loads(refused.content)["error"]
    viewer = await django_user_model.objects.acreate(username="viewer", is_staff=True)
    await client.aforce_login(viewer)
    assert (await client.post(url, {"question": "Hi"})).status_code == 403


# --- another process --------------------------------------------------------------------------

LABELS = """
import sys, django
django.setup()
from agents.pipeline.config import staff_config
for _ in sys.stdin:
    print(staff_config().prompt("chat.system").label, flush=True)
"""


@pytest.mark.django_db(transaction=True)
def test_a_publish_is_seen_by_another_process_s_next_reply(
    shared_cache: str, django_user_model: type[User]
) -> None:
    env = {
        **os.environ,
        "REDIS_URL": shared_cache,
        "ORION_CACHE_PREFIX": "orion",
        "DATABASE_URL": conftest.test_database_url(),
        "DJANGO_SETTINGS_MODULE": "project.settings",
    }
    other = subprocess.Popen([sys.executable, "-c", LABELS], env=env, cwd=BASE_DIR, text=True,  # noqa: S603
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert other.stdin is not None and other.stdout is not None

    def label_there() -> str:
        other.stdin.write("\n")  # type: ignore[union-attr]
        other.stdin.flush()  # type: ignore[union-attr]
        return other.stdout.readline().strip()  # type: ignore[union-attr]

    try:
        assert label_there() == "chat.system v1"
        user = django_user_model.objects.create_superuser("root", "r@example.org", "pw")
        client = Client()
        client.force_login(user)
        prompt = Prompt.objects.get(key="chat.system")
        post(client, prompt, "_publish", text="Be brief.")
        assert label_there() == "chat.system v2"
        v1 = prompt.versions.get(number=1)
        client.post(reverse("admin:agents_prompt_rollback", args=[prompt.pk]), {"version": v1.pk})
        assert label_there() == "chat.system v1"
    finally:
        other.stdin.close()
        other.wait(10)
