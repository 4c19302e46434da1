"""Changing a prompt safely: draft, review, publish, roll back. Every step is a
``PromptEvent`` (who, when, what they said) kept with its version.

- An editor saves a **draft** (one open draft per prompt, edited until submitted) and
  **submits** it for review.
- A publisher (permission ``agents.publish_prompt``) **publishes** a draft or a submitted
  version, **sends** a submitted one **back** with a comment, or **rolls back** to a
  version published before: it is published again and the current one retired.
- Each step names the state its author saw (``prompt_base``): a draft saved, or a version
  approved, after someone else changed it is refused, never silently overwritten.

Publishing saves a ``PromptVersion``, which tells every server process to reload staff's
configuration before its next reply (``agents.pipeline.config``). Cached answers are keyed
by the published version, and a retired version's stored answers are deleted, so the
degradation ladder cannot serve them either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Prefetch, Q

from agents.models import CachedAnswer, Prompt, PromptEvent, PromptVersion, Run
from agents.placeholders import placeholder_problems

MAX_PROMPT_CHARS = 20_000
PUBLISH_PERMISSION = "agents.publish_prompt"
State = PromptVersion.State
Action = PromptEvent.Action
User = AbstractBaseUser | AnonymousUser
PUBLISHING = (Action.PUBLISHED, Action.ROLLED_BACK)


class PromptStateError(Exception):
    """A step that does not fit the version's state, in words for staff."""


def prompt_publish_allowed(*, user: User) -> bool:
    return isinstance(user, PermissionsMixin | AnonymousUser) and user.has_perm(PUBLISH_PERMISSION)


def _must_publish(user: User) -> None:
    if not prompt_publish_allowed(user=user):
        raise PermissionDenied("Only prompt publishers can publish or roll back a prompt.")


def prompt_text_clean(*, key: str, text: str) -> str:
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
    actor_id = user.pk if isinstance(user, AbstractBaseUser) else None
    PromptEvent.objects.create(version=version, action=action, actor_id=actor_id, note=note[:500])


# --- reading ----------------------------------------------------------------------------------


def prompt_open_version(*, prompt: Prompt) -> PromptVersion | None:
    """The draft or the version in review, if any."""
    return prompt.versions.filter(state__in=PromptVersion.OPEN_STATES).first()


def prompt_published(*, prompt: Prompt) -> PromptVersion | None:
    return prompt.versions.filter(state=State.PUBLISHED).first()


def prompt_base_of(open_version: PromptVersion | None, published: PromptVersion | None) -> str:
    """``prompt_base`` from the two versions, for a caller that has read them already."""
    if open_version is not None:
        seen = f"{open_version.state}\n{open_version.note}\n{open_version.text}".encode()
        return f"v{open_version.pk}:{hashlib.sha256(seen).hexdigest()[:16]}"
    return f"p{published.pk}" if published is not None else "shipped"


def prompt_base(*, prompt: Prompt) -> str:
    """What a person editing ``prompt`` sees, as a token: the open version and its text
    and state, else the published version. A step is taken only on the state it names."""
    return prompt_base_of(prompt_open_version(prompt=prompt), prompt_published(prompt=prompt))


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: PromptVersion
    replies: int
    was_published: bool  # published at some time: it can be rolled back to


def prompt_history(*, prompt: Prompt) -> list[VersionRow]:
    """Every version, newest first, with its events and how many replies it answered."""
    published_once = PromptEvent.objects.filter(version=OuterRef("pk"), action__in=PUBLISHING)
    versions = (
        prompt.versions.select_related("author", "prompt")
        .prefetch_related(Prefetch("events", queryset=PromptEvent.objects.select_related("actor")))
        .annotate(
            replies=Count("runs", filter=Q(runs__kind=Run.Kind.REPLY)),
            was_published=Exists(published_once),
        )
        .order_by("-number")
    )
    return [VersionRow(v, v.replies, v.was_published) for v in versions]  # type: ignore[attr-defined]


def prompt_versions_compare(
    *, prompt: Prompt, old_id: str, new_id: str
) -> tuple[list[PromptVersion], PromptVersion | None, PromptVersion | None]:
    """All versions, and the two to compare (by default the published one and the newest)."""
    versions = list(prompt.versions.select_related("prompt").order_by("-number"))
    by_id = {str(v.pk): v for v in versions}
    published = next((v for v in versions if v.published), None)
    new = by_id.get(new_id) or (versions[0] if versions else None)
    return versions, by_id.get(old_id) or published, new


# --- the steps --------------------------------------------------------------------------------


def _locked(prompt: Prompt, base: str | None) -> tuple[PromptVersion | None, PromptVersion | None]:
    """The open and published versions, the prompt's row locked for the transaction;
    raises ``PromptStateError`` when they are not what ``base`` says the person saw."""
    Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
    live = prompt.versions.exclude(state=State.RETIRED).select_related("prompt")
    found = {v.state: v for v in live}
    open_version = found.get(State.DRAFT) or found.get(State.REVIEW)
    published = found.get(State.PUBLISHED)
    if base is not None and base != prompt_base_of(open_version, published):
        raise PromptStateError(
            "Someone changed this prompt since you opened the page. Reload it to see their "
            "version; copy your text first if you want to keep it."
        )
    return open_version, published


def prompt_draft_save(
    *, prompt: Prompt, text: str, note: str, user: User, base: str | None = None
) -> tuple[PromptVersion | None, bool]:
    """Save ``text`` as the prompt's draft (a new version when there is none). Returns the
    draft (None when there is none and the text is the published one) and whether
    anything changed."""
    text = prompt_text_clean(key=prompt.key, text=text)
    note = note.strip()[:200]
    with transaction.atomic():
        draft, published = _locked(prompt, base)
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
                author_id=user.pk if isinstance(user, AbstractBaseUser) else None,
            )  # fmt: skip
        else:
            draft.text, draft.note = text, note
            draft.save(update_fields=["text", "note"])
        _event(draft, Action.SAVED, user, note)
    return draft, True


def prompt_draft_submit(
    *, version: PromptVersion, user: User, note: str = "", base: str | None = None
) -> PromptVersion:
    """Ask a publisher to review the draft ``version``."""
    with transaction.atomic():
        _locked(version.prompt, base)
        version = _fresh(version)
        if version.state != State.DRAFT:
            raise PromptStateError(
                f"{version.label} is {version.get_state_display()}, not a draft."
            )
        version.state = State.REVIEW
        version.save(update_fields=["state"])
        _event(version, Action.SUBMITTED, user, note)
    return version


def prompt_version_send_back(
    *, version: PromptVersion, user: User, comment: str, base: str | None = None
) -> PromptVersion:
    """Return a version in review to its editor as a draft, with what to change."""
    _must_publish(user)
    comment = comment.strip()
    if not comment:
        raise ValidationError("Say what should change: a version is sent back with a comment.")
    with transaction.atomic():
        _locked(version.prompt, base)
        version = _fresh(version)
        if version.state != State.REVIEW:
            raise PromptStateError(f"{version.label} is not in review.")
        version.state = State.DRAFT
        version.save(update_fields=["state"])
        _event(version, Action.SENT_BACK, user, comment)
    return version


def prompt_version_publish(
    *, version: PromptVersion, user: User, note: str = "", base: str | None = None
) -> PromptVersion:
    """Publish a draft or a version in review (approving it); the published one retires."""
    _must_publish(user)
    with transaction.atomic():
        _locked(version.prompt, base)
        version = _fresh(version)
        if version.state not in PromptVersion.OPEN_STATES:
            raise PromptStateError(
                f"{version.label} is {version.get_state_display()}: only a draft or a version "
                "in review is published (an earlier one is rolled back to)."
            )
        _publish(version, Action.PUBLISHED, user, note)
    return version


def prompt_version_rollback(
    *, version: PromptVersion, user: User
) -> tuple[PromptVersion, PromptVersion | None]:
    """Publish the retired ``version`` again; returns it and the version it replaced."""
    _must_publish(user)
    with transaction.atomic():
        _, current = _locked(version.prompt, None)
        version = _fresh(version)
        if (
            version.state != State.RETIRED
            or not version.events.filter(action__in=PUBLISHING).exists()
        ):
            raise PromptStateError(
                f"{version.label} is {version.get_state_display()}; only a version that was "
                "published before can be rolled back to."
            )
        _publish(version, Action.ROLLED_BACK, user, "")
    return version, current


def _fresh(version: PromptVersion) -> PromptVersion:
    return PromptVersion.objects.select_related("prompt").get(pk=version.pk)


def _publish(version: PromptVersion, action: str, user: User, note: str) -> None:
    current = prompt_published(prompt=version.prompt)
    if current is not None:
        current.state = State.RETIRED
        current.save(update_fields=["state"])
        _event(current, Action.RETIRED, user, f"replaced by v{version.number}")
        CachedAnswer.objects.filter(prompt_version=current.label).delete()
    version.state = State.PUBLISHED
    version.save(update_fields=["state"])
    _event(version, action, user, note)


STEPS = ("save", "preview", "submit", "publish", "send_back")


def prompt_change(
    *, prompt: Prompt, step: str, text: str, note: str, comment: str, base: str, user: User
) -> list[str]:
    """One press of a button on the prompt's page: save the draft (every step but a
    review's), then submit, publish or send back. Returns what was done, in words."""
    done: list[str] = []
    open_version = prompt_open_version(prompt=prompt)
    if step == "send_back":
        if open_version is None or open_version.state != State.REVIEW:
            raise PromptStateError("There is no version in review to send back.")
        version = prompt_version_send_back(version=open_version, user=user, comment=comment,
                                           base=base)  # fmt: skip
        return [f"Sent {version.label} back: {comment.strip()}"]
    if open_version is None or open_version.state == State.DRAFT:
        open_version, changed = prompt_draft_save(prompt=prompt, text=text, note=note,
                                                  user=user, base=base)  # fmt: skip
        if changed and open_version is not None:
            done.append(f"Saved the draft {open_version.label}.")
        base = prompt_base(prompt=prompt)
    if step in ("publish", "submit") and open_version is None:
        raise PromptStateError(f"The draft is the published text: there is nothing to {step}.")
    if step == "publish" and open_version is not None:
        version = prompt_version_publish(version=open_version, user=user, note=note, base=base)
        done.append(f"Published {version.label}.")
    elif step == "submit" and open_version is not None:
        version = prompt_draft_submit(version=open_version, user=user, note=note, base=base)
        done.append(f"Submitted {version.label} for review.")
    return done


# --- what a fresh install starts with ---------------------------------------------------------

# What each shipped prompt is for, shown in the admin's list (a blank description is filled).
DESCRIPTIONS = {
    "chat.system": "The assistant's instructions, sent before every conversation.",
    "chat.knowledge": "Added to the instructions when the knowledge base has passages for "
    "the question: how to use them and cite them. Must include {passages}.",
    "chat.title": "Asks for a short title for a new conversation from its first message.",
    "chat.summary": "Asks for a summary of the earlier part of a long conversation.",
    "structured.repair": "Asks the model to fix JSON that does not match what a step needs.",
}


def prompts_install_shipped(**kwargs: object) -> list[str]:
    """Give every prompt shipped in ``agents/prompts/`` that has no row yet its version 1,
    published, and a blank description the shipped one. Connected to ``post_migrate``, so
    a prompt added by an upgrade appears in the admin; skipped while the database is not
    migrated this far. A prompt's versions are never touched: a deploy never overwrites
    staff's work."""
    from agents.pipeline.config import shipped_prompts

    using = str(kwargs.get("using") or "default")
    plan = kwargs.get("plan")
    if plan is not None and not agents_migrated(using):
        return []
    added = []
    for key, shipped in shipped_prompts().items():
        with transaction.atomic(using=using):
            prompt, created = Prompt.objects.using(using).get_or_create(key=key)
            if created:
                version = PromptVersion.objects.using(using).create(
                    prompt=prompt, number=1, text=shipped.text, note="shipped with Orion",
                    state=State.PUBLISHED,
                )  # fmt: skip
                PromptEvent.objects.using(using).create(
                    version=version, action=Action.PUBLISHED, note="shipped with Orion"
                )
                added.append(key)
            if not prompt.description and key in DESCRIPTIONS:
                Prompt.objects.using(using).filter(pk=prompt.pk).update(
                    description=DESCRIPTIONS[key]
                )
    return added


def agents_migrated(using: str) -> bool:
    """Whether every migration of the agents app is applied (a partial ``migrate`` leaves
    the tables without the columns this code writes)."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[using])
    leaves = [node for node in executor.loader.graph.leaf_nodes() if node[0] == "agents"]
    return all(node in executor.loader.applied_migrations for node in leaves)
