"""The answer cache: complete model answers to context-free questions, in three tiers.

1. ``l1``: this process's memory (a TTL'd LRU), emptied whenever staff's configuration
   changes;
2. ``l2``: the Django cache (Redis when ``REDIS_URL`` is set, shared by every process);
3. ``l3``: the ``CachedAnswer`` table (survives restarts of both).

The key covers the normalised question, the published system prompt's version, the model,
the knowledge base's version and the enabled rules: publishing a prompt, changing a
document or adding a rule makes old answers unreachable; deleting a cached answer in the
admin removes it from every tier (``answer_forget``). Only a conversation's first turn is
looked up (a later turn depends on what came before), never a flagged one, and only a
complete answer from the chain's first provider is stored. Lookups for a burst are one
``get_many`` and one query; stores ride with the replies' final write.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from cachetools import TTLCache
from django.conf import settings
from django.core.cache import cache as django_cache
from django.db import DatabaseError
from django.db.models.signals import post_delete
from django.utils import timezone

from agents.models import CachedAnswer
from agents.pipeline.config import StaffConfig, staff_config_changed, staff_config_current
from agents.pipeline.records import CachePut
from agents.pipeline.stages import ReadyAnswer, ReplyContext
from project.bulk import rows_insert

logger = logging.getLogger(__name__)

L2_PREFIX = "agents:answer:"
_SPACES = re.compile(r"\s+")


def knowledge_version() -> str:
    """The knowledge base's version, part of every key: a document ingested again (or
    removed) stops the answers given before it. Read from the snapshot the burst loaded."""
    snapshot = staff_config_current()
    return snapshot.knowledge_version if snapshot is not None else "0"


def knowledge_scope(audiences: Sequence[str]) -> str:
    """The knowledge base as one asker sees it: its version and the widest audience they
    may read. An answer drawn from staff-only documents is never served to a visitor."""
    version = knowledge_version()
    return f"{version}:{audiences[-1] if audiences else ''}" if version != "0" else version


def question_normalise(text: str) -> str:
    """The form under which two askings of the same question meet: case, spacing and
    trailing punctuation do not matter."""
    return _SPACES.sub(" ", text.casefold()).strip().rstrip("?!.。 ")


def question_key(question: str, audiences: Sequence[str] = ("everyone",)) -> str:
    raw = "\x00".join((question_normalise(question), knowledge_scope(audiences)))
    return hashlib.sha256(raw.encode()).hexdigest()


def answer_for_question(question: str, audiences: Sequence[str] = ("everyone",)) -> Hit | None:
    """The newest stored answer to ``question`` under any prompt or model, expired or not:
    the ladder's cache tier, for when no model answers."""
    row = (
        CachedAnswer.objects.filter(question_key=question_key(question, audiences))
        .order_by("-created_at")
        .first()
    )
    if row is None:
        return None
    return "l3", _entry(row)


def answer_key(
    question: str,
    prompt_label: str,
    model: str,
    rules_version: str = "",
    audiences: Sequence[str] = ("everyone",),
) -> str:
    """A cached answer's key: a rule added later, that would now answer the question
    first, makes the old answer unreachable too."""
    scope = knowledge_scope(audiences)
    parts = (question_normalise(question), prompt_label, model, scope, rules_version)
    raw = "\x00".join(parts)
    return hashlib.sha256(raw.encode()).hexdigest()


class _Memory:
    """Tier 1, guarded by a lock (the database thread reads, the finish writes)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token = ""
        self.entries: TTLCache[str, dict[str, Any]] = self._new()

    @staticmethod
    def _new() -> TTLCache[str, dict[str, Any]]:
        return TTLCache(maxsize=settings.ORION_CACHE_L1_SIZE, ttl=settings.ORION_CACHE_TTL_SECONDS)

    def get(self, key: str, token: str | None) -> dict[str, Any] | None:
        """The entry under ``key``; a ``token`` other than the last one seen (staff changed
        something) empties the tier first. None: no check (the ladder's lookups)."""
        with self.lock:
            if token is not None and token != self.token:
                self.entries, self.token = self._new(), token
            return self.entries.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self.lock:
            self.entries[key] = value

    def clear(self) -> None:
        with self.lock:
            self.entries, self.token = self._new(), ""


memory = _Memory()


def _entry(answer: CachePut | CachedAnswer) -> dict[str, Any]:
    """What the memory and shared tiers keep of an answer (to store, or read back)."""
    return {
        "answer": answer.answer,
        "provider": answer.provider,
        "model": answer.model,
        "tokens_in": answer.tokens_in,
        "tokens_out": answer.tokens_out,
        "cost": str(answer.cost) if answer.cost is not None else None,
        "sources": list(answer.sources),
    }


Hit = tuple[str, dict[str, Any]]  # (tier, entry)


def answers_find(keys: set[str], token: str | None, errors: list[str]) -> dict[str, Hit]:
    """The cached answers under ``keys``, each from the nearest tier that has it (one
    ``get_many`` and one query for all); a tier that is away is noted in ``errors``."""
    found: dict[str, Hit] = {}
    for key in keys:
        if (hit := memory.get(key, token)) is not None:
            found[key] = ("l1", hit)
    missing = keys - set(found)
    if not missing:
        return found
    try:
        for key, value in django_cache.get_many([L2_PREFIX + k for k in missing]).items():
            found[key.removeprefix(L2_PREFIX)] = ("l2", value)
    except Exception as exc:  # Redis away: the next tier, then the model
        logger.warning("answer cache (l2) unavailable: %s", exc)
        errors.append("l2")
    missing = keys - set(found)
    if not missing:
        return found
    try:
        for row in CachedAnswer.objects.filter(key__in=missing, expires_at__gt=timezone.now()):
            entry = _entry(row)
            found[row.key] = ("l3", entry)
            memory.put(row.key, entry)
    except DatabaseError as exc:
        logger.warning("answer cache (l3) unavailable: %s", exc)
        errors.append("l3")
    return found


class CacheStage:
    """Answers a repeated first question at once, whole, from the nearest tier."""

    name = "cache"

    def prepare(self, contexts: list[ReplyContext], config: StaffConfig) -> None:
        began = time.perf_counter()
        wanted: dict[str, list[ReplyContext]] = {}
        for context in contexts:
            if (
                context.provider is None
                or not context.first_turn
                or context.flagged
                or context.run.kind != "reply"
            ):
                reason = "offline" if context.provider is None else "not_cacheable"
                context.run.step(self.name, began, "skip", {"reason": reason})
                continue
            label = context.system_prompt.cache_label if context.system_prompt else ""
            context.cache_key = answer_key(
                context.question,
                label,
                context.provider.model,
                config.rules_version,
                context.audiences,
            )
            wanted.setdefault(context.cache_key, []).append(context)
        if not wanted:
            return
        errors: list[str] = []
        found = answers_find(set(wanted), config.token, errors)
        for key, waiting in wanted.items():
            for context in waiting:
                self._settle(context, began, found.get(key), errors)

    def _settle(
        self, context: ReplyContext, began: float, hit: Hit | None, errors: list[str]
    ) -> None:
        detail: dict[str, Any] = {"errors": errors} if errors else {}
        if hit is None:
            context.run.step(self.name, began, "miss", detail)
            return
        tier, entry = hit
        context.ready = ReadyAnswer(
            entry["answer"],
            answered_by="cache",
            provider=entry["provider"],
            model=entry["model"],
            sources=tuple(entry.get("sources") or ()),
        )
        context.run.cache_tier = tier
        detail.update(
            tier=tier,
            saved_tokens_in=entry["tokens_in"] or 0,
            saved_tokens_out=entry["tokens_out"] or 0,
            saved_cost=entry["cost"] or "0",
        )
        context.run.step(self.name, began, "hit", detail)

    async def answer(self, context: ReplyContext) -> None:
        return None


def answers_cache_store(puts: list[CachePut]) -> None:
    """Keep complete answers in every tier (with the replies' final write). A tier that is
    away is skipped: the cache is an optimisation, never a reason to fail a reply."""
    if not puts:
        return
    ttl = settings.ORION_CACHE_TTL_SECONDS
    for put in puts:
        memory.put(put.key, _entry(put))
    try:
        django_cache.set_many({L2_PREFIX + p.key: _entry(p) for p in puts}, timeout=ttl)
    except Exception as exc:
        logger.warning("answer cache (l2) not stored: %s", exc)
    expires = timezone.now() + timedelta(seconds=ttl)
    now = timezone.now()
    rows_insert(
        CachedAnswer,
        ("key", "question_key", "question", "answer", "prompt_version", "provider", "model",
         "tokens_in", "tokens_out", "cost", "sources", "created_at", "expires_at"),
        [
            (p.key, question_key(p.question, p.audiences), p.question[:4000], p.answer,
             p.prompt_label, p.provider, p.model, p.tokens_in, p.tokens_out, p.cost,
             p.sources, now, expires)
            for p in {p.key: p for p in puts}.values()
        ],
        unique="key",
    )  # fmt: skip


def answer_forget(key: str) -> None:
    """Stop serving the answer under ``key`` everywhere: gone from the shared tier here,
    and every process empties its memory tier before its next reply."""
    try:
        django_cache.delete(L2_PREFIX + key)
    except Exception as exc:
        logger.warning("answer cache (l2): %s not forgotten: %s", key, exc)
    staff_config_changed()


def _forget_deleted(sender: type[CachedAnswer], instance: CachedAnswer, **kwargs: Any) -> None:
    answer_forget(instance.key)


post_delete.connect(_forget_deleted, sender=CachedAnswer, dispatch_uid="cached-answer-deleted")
