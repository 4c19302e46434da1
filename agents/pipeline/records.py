"""What a run records while it goes, in memory, and how a burst of runs is stored.

A ``RunRecord`` travels with its reply; each stage appends a ``StepRecord``. Nothing is
written while the reply runs: the chat hands the finished records to ``runs_store`` in the
same transaction as the replies' final update (``agents.pipeline.store``), so a burst of
replies costs two more statements, never a write per stage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from agents.models import Run, Step
from project.bulk import pks_present, rows_insert, rows_insert_returning


@dataclass(slots=True)
class StepRecord:
    name: str
    start_ms: float
    duration_ms: float
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)


@dataclass(slots=True)
class CachePut:
    """A complete model answer to keep in the cache's shared tiers (with the final write)."""

    key: str
    question: str
    answer: str
    prompt_label: str
    provider: str
    model: str
    tokens_in: int | None
    tokens_out: int | None
    cost: Decimal | None
    sources: list[dict[str, Any]] = field(default_factory=list)  # the passages it cited
    audiences: tuple[str, ...] = ("everyone",)  # who asked (part of the question's key)


@dataclass(slots=True)
class RunRecord:
    """One run as it goes: filled by the stages, stored by ``runs_store``."""

    kind: str = Run.Kind.REPLY
    started: float = field(default_factory=time.perf_counter)
    started_at: datetime = field(default_factory=timezone.now)
    steps: list[StepRecord] = field(default_factory=list)
    answered_by: str = ""
    cache_tier: str = ""
    provider: str = ""
    model: str = ""
    prompt_version_id: int | None = None
    prompt_label: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)
    cost_estimated: bool = False
    ttft_ms: float | None = None
    duration_ms: float | None = None
    cache_put: CachePut | None = None

    def ms_since_start(self, at: float | None = None) -> float:
        return ((time.perf_counter() if at is None else at) - self.started) * 1000

    def step(
        self,
        name: str,
        began: float,
        outcome: str,
        detail: dict[str, Any] | None = None,
        *,
        ended: float | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost: Decimal = Decimal(0),
    ) -> StepRecord:
        """Record a stage that began at ``began`` (``time.perf_counter()``) and ended now
        (or at ``ended``); tokens and cost add up into the run's."""
        end = time.perf_counter() if ended is None else ended
        record = StepRecord(
            name=name,
            start_ms=round((began - self.started) * 1000, 3),
            duration_ms=round((end - began) * 1000, 3),
            outcome=outcome,
            detail=detail or {},
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=cost,
        )
        self.steps.append(record)
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cost += cost
        return record

    def first_text(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = round(self.ms_since_start(), 3)

    def end(self) -> None:
        if self.duration_ms is None:
            self.duration_ms = round(self.ms_since_start(), 3)


RUN_COLUMNS = (
    "kind", "message_id", "answered_by", "cache_tier", "provider", "model",
    "prompt_version_id", "tokens_in", "tokens_out", "cost", "cost_estimated", "started_at",
    "ttft_ms", "duration_ms", "outcome", "error_code",
)  # fmt: skip
STEP_COLUMNS = (
    "run_id", "position", "name", "start_ms", "duration_ms", "outcome", "detail", "tokens_in",
    "tokens_out", "cost",
)  # fmt: skip


def runs_insert(*, finished: list[tuple[int | None, RunRecord, str, str]]) -> None:
    """Store finished runs ``(message_id, record, outcome, error_code)`` and their steps:
    the runs in one statement, all their steps in another (``project.bulk``: the ORM's
    ``bulk_create`` cost most of a burst's final write). Call it inside the transaction of
    the replies' final update."""
    if not finished:
        return
    # A reply whose conversation (or whose prompt version) was deleted meanwhile keeps its
    # run, unlinked.
    present, versions = pks_present(
        [
            (_related("message"), {m for m, *_ in finished}),
            (_related("prompt_version"), {r.prompt_version_id for _, r, *_ in finished}),
        ]
    )
    ids = rows_insert_returning(
        Run,
        RUN_COLUMNS,
        [
            (
                r.kind,
                message_id if message_id in present else None,
                r.answered_by,
                r.cache_tier,
                r.provider,
                r.model,
                r.prompt_version_id if r.prompt_version_id in versions else None,
                r.tokens_in,
                r.tokens_out,
                r.cost,
                r.cost_estimated,
                r.started_at,
                r.ttft_ms,
                r.duration_ms,
                outcome,
                error_code,
            )
            for message_id, r, outcome, error_code in finished
        ],  # fmt: skip
    )
    rows_insert(
        Step,
        STEP_COLUMNS,
        [
            (
                run_id,
                position,
                s.name,
                s.start_ms,
                s.duration_ms,
                s.outcome,
                s.detail,
                s.tokens_in,
                s.tokens_out,
                s.cost,
            )
            for run_id, (_, record, _, _) in zip(ids, finished, strict=True)
            for position, s in enumerate(record.steps)
        ],  # fmt: skip
    )


def _related(relation: str) -> Any:
    """The model on the other side of ``Run.relation`` (the chat's ``Message`` is not
    imported here: the chat depends on the pipeline, not the other way round)."""
    return Run._meta.get_field(relation).related_model
