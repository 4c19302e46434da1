"""What staff configure, as one snapshot per process, reloaded when any of it changes.

Published prompts, rules, guard patterns, providers, the tools staff left on and the
knowledge base's version are read from the database once and kept.
Every save or delete of one of them sets a new token under ``CONFIG_TOKEN_KEY`` in the
Django cache (shared by every process where Redis is configured); each batch of replies
reads the token once and reloads the snapshot when it differs. A publish therefore takes
effect on the next reply in every process.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from agents.knowledge import embeddings
from agents.models import Document, GuardPattern, PromptVersion, Provider, Rule, ToolSetting
from agents.placeholders import placeholder_values, prompt_render
from agents.providers import ProviderConfig, provider_from_row
from agents.tools import TOOLS

logger = logging.getLogger(__name__)

CONFIG_TOKEN_KEY = "agents:config-token"  # noqa: S105 (a cache key, not a secret)
PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@dataclass(frozen=True, slots=True)
class PublishedPrompt:
    key: str
    version_id: int | None
    label: str  # "chat.system v3"
    text: str

    @classmethod
    def of(cls, version: PromptVersion) -> PublishedPrompt:
        """The prompt as ``version`` says it (its ``prompt`` loaded)."""
        return cls(version.prompt.key, version.pk, version.label, version.text)

    def rendered(self, **extra: str) -> str:
        """The text as sent, its placeholders filled in (``extra``: values only this use
        has, such as a question's passages)."""
        if "{" not in self.text:
            return self.text
        return prompt_render(self.text, {**placeholder_values(), **extra})

    @property
    def cache_label(self) -> str:
        """What cached answers to it are keyed by: the version, and the day if the text
        names it (yesterday's answers are not today's)."""
        return (
            f"{self.label} {placeholder_values()['today']}"
            if "{today}" in self.text
            else self.label
        )


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    regex: re.Pattern[str]
    answer: str


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    name: str
    regex: re.Pattern[str]
    score: float
    needles: tuple[str, ...] = ()  # lower-cased; the regex is tried only if one is present


@dataclass(frozen=True, slots=True)
class StaffConfig:
    token: str
    prompts: dict[str, PublishedPrompt] = field(default_factory=dict)
    rules: tuple[CompiledRule, ...] = ()
    guard_patterns: tuple[CompiledPattern, ...] = ()
    providers: tuple[ProviderConfig, ...] = ()  # staff's enabled rows, by priority
    rules_version: str = ""  # changes whenever the enabled rules do (part of cache keys)
    knowledge_version: str = "0"  # changes whenever a document's chunks do (cache keys too)
    tools: tuple[str, ...] = ()  # the registered tools staff have not turned off

    def prompt(self, key: str) -> PublishedPrompt:
        """The published version of prompt ``key`` (a missing prompt is a deployment bug:
        the shipped prompts are loaded by a migration)."""
        try:
            return self.prompts[key]
        except KeyError:
            raise LookupError(f"no published version of prompt {key!r}") from None


_snapshot: StaffConfig | None = None


def staff_config() -> StaffConfig:
    """The current snapshot (synchronous: call it on the database thread)."""
    global _snapshot
    snapshot = _snapshot
    try:
        token = cache.get(CONFIG_TOKEN_KEY)
        if token is None:
            cache.add(CONFIG_TOKEN_KEY, uuid.uuid4().hex, timeout=None)
            token = cache.get(CONFIG_TOKEN_KEY) or ""
        if snapshot is None or snapshot.token != token:
            snapshot = _snapshot = _load(token)
    except Exception:
        if snapshot is None:
            raise
        # The cache or the database is away: answer as configured a moment ago.
        logger.warning("staff configuration not re-read; keeping the last one", exc_info=True)
    return snapshot


def staff_config_current() -> StaffConfig | None:
    """The snapshot read last (by the burst being prepared), without asking the cache
    whether it is still current."""
    return _snapshot


def staff_config_changed(**kwargs: Any) -> None:
    """Make every process reload its snapshot before its next reply: now, and again once
    the change is committed (a process reloading in between would read the old rows and
    keep them under the new token)."""
    _new_token()
    transaction.on_commit(_new_token)


def _new_token() -> None:
    cache.set(CONFIG_TOKEN_KEY, uuid.uuid4().hex, timeout=None)


def shipped_prompts() -> dict[str, PublishedPrompt]:
    """The prompts in ``agents/prompts/``: what a prompt says while no version of it is
    published (each is published as version 1 when an install first migrates:
    ``agents.prompting.prompts_install_shipped``)."""
    return {
        path.stem: PublishedPrompt(path.stem, None, f"{path.stem} shipped",
                                   path.read_text(encoding="utf-8").strip())
        for path in sorted(PROMPTS_DIR.glob("*.txt"))
    }  # fmt: skip


def _load(token: str) -> StaffConfig:
    prompts = shipped_prompts()
    prompts.update(
        (v.prompt.key, PublishedPrompt.of(v))
        for v in PromptVersion.objects.filter(state=PromptVersion.State.PUBLISHED).select_related(
            "prompt"
        )
    )
    rules = tuple(
        CompiledRule(rule.name, regex, rule.answer)
        for rule in Rule.objects.filter(enabled=True).order_by("priority", "name")
        if (regex := _compile(rule.pattern, f"rule {rule.name!r}")) is not None
    )
    patterns = tuple(
        CompiledPattern(p.name, regex, p.score)
        for p in GuardPattern.objects.filter(enabled=True)
        if (regex := _compile(p.pattern, f"guard pattern {p.name!r}")) is not None
    )
    providers = tuple(
        provider_from_row(row) for row in Provider.objects.filter(enabled=True).order_by(
            "priority", "name")
    )  # fmt: skip
    fingerprint = hashlib.sha256(
        repr([(r.name, r.regex.pattern, r.answer) for r in rules]).encode()
    ).hexdigest()[:16]
    documents = list(Document.objects.filter(chunk_count__gt=0).order_by("pk")
                     .values_list("pk", "version", "audience"))  # fmt: skip
    knowledge = hashlib.sha256(repr(documents).encode()).hexdigest()[:16] if documents else "0"
    off = set(ToolSetting.objects.filter(enabled=False).values_list("name", flat=True))
    tools = tuple(name for name in TOOLS if name not in off)
    return StaffConfig(token=token, prompts=prompts, rules=rules, guard_patterns=patterns,
                       providers=providers, rules_version=fingerprint,
                       knowledge_version=knowledge, tools=tools)  # fmt: skip


def _compile(pattern: str, what: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:  # the admin refuses these; a row written otherwise is skipped
        logger.warning("%s is not a valid regular expression: %s", what, exc)
        return None


def _version_saved(instance: PromptVersion, **kwargs: Any) -> None:
    """A draft's save or a submission changes no reply: only a version that is or was
    published does."""
    if instance.state not in PromptVersion.OPEN_STATES:
        staff_config_changed()


embeddings.staff_providers = lambda: staff_config().providers
post_save.connect(_version_saved, sender=PromptVersion, dispatch_uid="config-PromptVersion")
for _model in (Rule, GuardPattern, Provider, ToolSetting):
    post_save.connect(staff_config_changed, sender=_model, dispatch_uid=f"config-{_model}")
for _deleted in (PromptVersion, Rule, GuardPattern, Provider, ToolSetting, Document):
    post_delete.connect(
        staff_config_changed, sender=_deleted, dispatch_uid=f"config-del-{_deleted}"
    )
