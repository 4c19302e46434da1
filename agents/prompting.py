"""Changing a prompt safely: draft, review, publish, roll back. Every step is a
``PromptEvent`` (who, when, what they said) kept with its version.

- An editor saves a **draft** (one open draft per prompt, edited until submitted) and
  **submits** it for review.
- A publisher (permission ``agents.publish_prompt``) **publishes** a draft or a submitted
  version, **sends** a submitted one **back** with a comment, or **rolls back** to any
  earlier version: it is published again and the current one retired.

Publishing saves a ``PromptVersion``, which tells every server process to reload staff's
configuration before its next reply (``agents.pipeline.config``); cached answers are keyed
by the published version, so the old version's stop being served.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as Account
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Prefetch, Q

from agents.models import Prompt, PromptEvent, PromptVersion, Run
from agents.placeholders import placeholder_problems

MAX_PROMPT_CHARS = 20_000
PUBLISH_PERMISSION = "agents.publish_prompt"
State = PromptVersion.State
Action = PromptEvent.Action
User = AbstractBaseUser | AnonymousUser


class PromptStateError(Exception):
    """A step that does not fit the version's state, in words for staff."""


def can_publish(user: User) -> bool:
    return isinstance(user, Account | AnonymousUser) and user.has_perm(PUBLISH_PERMISSION)


def _must_publish(user: User) -> None:
    if not can_publish(user):
        raise PermissionDenied("Only prompt publishers can publish or roll back a prompt.")


def prompt_text_clean(key: str, text: str) -> str:
    """A prompt's text as stored (line ends made ``\\n``, outer blank space removed);
    raises ``ValidationError`` naming every problem."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValidationError("The prompt's text is empty.")
    if len(text) > MAX_PROMPT_CHARS:
        raise ValidationError(
            f"The text is {len(text):,} characters long; a prompt can have at most "
            f"{MAX_PROMPT_CHARS:,}."
        )
    if "\x00" in text:
        raise ValidationError("The text contains a NUL character.")
    if problems := placeholder_problems(key, text):
        raise ValidationError(problems)
    return text


def _event(version: PromptVersion, action: str, user: User, note: str = "") -> None:
    actor = user if isinstance(user, Account) else None
    PromptEvent.objects.create(version=version, action=action, actor=actor, note=note[:500])


def _locked(prompt: Prompt) -> dict[str, PromptVersion]:
    """The prompt's open and published versions, its row locked for the transaction."""
    Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
    versions = prompt.versions.filter(
        state__in=[State.DRAFT, State.REVIEW, State.PUBLISHED]
    ).select_related("prompt")
    return {State.PUBLISHED if v.state == State.PUBLISHED else "open": v for v in versions}


def prompt_open_version(prompt: Prompt) -> PromptVersion | None:
    """The draft or the version in review, if any."""
    return prompt.versions.filter(state__in=PromptVersion.OPEN_STATES).first()


def prompt_published(prompt: Prompt) -> PromptVersion | None:
    return prompt.versions.filter(state=State.PUBLISHED).first()


def prompt_draft_save(
    *, prompt: Prompt, text: str, note: str, user: User
) -> tuple[PromptVersion | None, bool]:
    """Save ``text`` as the prompt's draft (a new version when there is none). Returns the
    draft (None when there is none and the text is the published one) and whether
    anything changed."""
    text = prompt_text_clean(prompt.key, text)
    note = note.strip()[:200]
    with transaction.atomic():
        found = _locked(prompt)
        draft, published = found.get("open"), found.get(State.PUBLISHED)
        if draft is not None and (draft.text, draft.note) == (text, note):
            return draft, False
        if draft is not None and draft.state == State.REVIEW:
            raise PromptStateError(
                f"{draft.label} is in review and cannot change now; a publisher publishes it "
                "or sends it back to you."
            )
        if draft is None:
            if published is not None and published.text == text:
                return None, False
            last = prompt.versions.order_by("-number").values_list("number", flat=True).first()
            draft = PromptVersion.objects.create(
                prompt=prompt, number=(last or 0) + 1, text=text, note=note,
                author=user if isinstance(user, Account) else None,
            )  # fmt: skip
        else:
            draft.text, draft.note = text, note
            draft.save(update_fields=["text", "note"])
        _event(draft, Action.SAVED, user, note)
    return draft, True


def prompt_draft_submit(*, version: PromptVersion, user: User, note: str = "") -> PromptVersion:
    """Ask a publisher to review the draft ``version``."""
    with transaction.atomic():
        version = _fresh(version)
        if version.state != State.DRAFT:
            raise PromptStateError(
                f"{version.label} is {version.get_state_display()}, not a draft."
            )
        version.state = State.REVIEW
        version.save(update_fields=["state"])
        _event(version, Action.SUBMITTED, user, note)
    return version


def prompt_version_send_back(*, version: PromptVersion, user: User, comment: str) -> PromptVersion:
    """Return a version in review to its editor as a draft, with what to change."""
    _must_publish(user)
    comment = comment.strip()
    if not comment:
        raise ValidationError("Say what should change: a version is sent back with a comment.")
    with transaction.atomic():
        version = _fresh(version)
        if version.state != State.REVIEW:
            raise PromptStateError(f"{version.label} is not in review.")
        version.state = State.DRAFT
        version.save(update_fields=["state"])
        _event(version, Action.SENT_BACK, user, comment)
    return version


def prompt_version_publish(*, version: PromptVersion, user: User, note: str = "") -> PromptVersion:
    """Publish a draft or a version in review (approving it); the published one retires."""
    _must_publish(user)
    with transaction.atomic():
        version = _fresh(version)
        if version.state not in PromptVersion.OPEN_STATES:
            raise PromptStateError(
                f"{version.label} is {version.get_state_display()}: only a draft or a version "
                "in review is published (an earlier one is rolled back to)."
            )
        _publish(version, Action.PUBLISHED, user, note)
    return version


def prompt_version_rollback(*, version: PromptVersion, user: User) -> PromptVersion:
    """Publish the retired ``version`` again; the published one retires."""
    _must_publish(user)
    with transaction.atomic():
        version = _fresh(version)
        if version.state != State.RETIRED:
            raise PromptStateError(
                f"{version.label} is {version.get_state_display()}; only a retired version "
                "can be rolled back to."
            )
        _publish(version, Action.ROLLED_BACK, user, "")
    return version


def _fresh(version: PromptVersion) -> PromptVersion:
    _locked(version.prompt)
    return PromptVersion.objects.select_related("prompt").get(pk=version.pk)


def _publish(version: PromptVersion, action: str, user: User, note: str) -> None:
    current = prompt_published(version.prompt)
    if current is not None:
        current.state = State.RETIRED
        current.save(update_fields=["state"])
        _event(current, Action.RETIRED, user, f"replaced by v{version.number}")
    version.state = State.PUBLISHED
    version.save(update_fields=["state"])
    _event(version, action, user, note)


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: PromptVersion
    replies: int


def prompt_history(prompt: Prompt) -> list[VersionRow]:
    """Every version, newest first, with its events and how many replies it answered."""
    versions = (
        prompt.versions.select_related("author", "prompt")
        .prefetch_related(Prefetch("events", queryset=PromptEvent.objects.select_related("actor")))
        .annotate(replies=Count("runs", filter=Q(runs__kind=Run.Kind.REPLY)))
        .order_by("-number")
    )
    return [VersionRow(v, v.replies) for v in versions]  # type: ignore[attr-defined]


def prompts_install_shipped(**kwargs: object) -> list[str]:
    """Give every prompt shipped in ``agents/prompts/`` that has no row yet its version 1,
    published (after each ``migrate``, so a prompt added by an upgrade appears in the
    admin). A prompt that exists is never touched: a deploy never overwrites staff's work."""
    from agents.pipeline.config import shipped_prompts

    added = []
    for key, shipped in shipped_prompts().items():
        with transaction.atomic():
            prompt, created = Prompt.objects.get_or_create(key=key)
            if created:
                PromptVersion.objects.create(
                    prompt=prompt, number=1, text=shipped.text, note="shipped with Orion",
                    state=State.PUBLISHED,
                )  # fmt: skip
                added.append(key)
    return added
