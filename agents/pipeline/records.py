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


def runs_insert(*, finished: list[tuple[int | None, RunRecord, str, str]]) -> None:
    """Store finished runs ``(message_id, record, outcome, error_code)`` and their steps:
    one insert for the runs, one for all their steps. Call it inside the transaction of
    the replies' final update."""
    if not finished:
        return
    # A reply whose conversation was deleted meanwhile keeps its run, unlinked.
    message_model = Run._meta.get_field("message").related_model
    wanted = {message_id for message_id, *_ in finished if message_id is not None}
    present = (
        set(
            message_model._default_manager.filter(pk__in=wanted).values_list("pk", flat=True)  # type: ignore[union-attr]
        )
        if wanted
        else set()
    )
    runs = [
        Run(
            kind=record.kind,
            message_id=message_id if message_id in present else None,
            answered_by=record.answered_by,
            cache_tier=record.cache_tier,
            provider=record.provider,
            model=record.model,
            prompt_version_id=record.prompt_version_id,
            tokens_in=record.tokens_in,
            tokens_out=record.tokens_out,
            cost=record.cost,
            cost_estimated=record.cost_estimated,
            started_at=record.started_at,
            ttft_ms=record.ttft_ms,
            duration_ms=record.duration_ms,
            outcome=outcome,
            error_code=error_code,
        )
        for message_id, record, outcome, error_code in finished
    ]
    Run.objects.bulk_create(runs)
    Step.objects.bulk_create(
        [
            Step(
                run_id=run.pk,
                position=position,
                name=s.name,
                start_ms=s.start_ms,
                duration_ms=s.duration_ms,
                outcome=s.outcome,
                detail=s.detail,
                tokens_in=s.tokens_in,
                tokens_out=s.tokens_out,
                cost=s.cost,
            )
            for run, (_, record, _, _) in zip(runs, finished, strict=True)
            for position, s in enumerate(record.steps)
        ]
    )
