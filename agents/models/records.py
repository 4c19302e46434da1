"""What answering leaves behind: cached answers, and runs with their steps."""

from __future__ import annotations

from django.db import models

from agents.models.prompts import PromptVersion


class CachedAnswer(models.Model):
    """A complete model answer to a context-free question (the cache's database tier)."""

    key = models.CharField(max_length=64, unique=True)
    # The question alone (normalised, hashed): when every model fails, an answer to the
    # same question under another prompt or model is better than none.
    question_key = models.CharField(max_length=64, db_index=True)
    question = models.TextField()
    answer = models.TextField()
    prompt_version = models.CharField(max_length=80, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=128, blank=True)
    tokens_in = models.PositiveIntegerField(null=True, blank=True)
    tokens_out = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # The passages the answer cited, as ``chat.Message.sources`` keeps them.
    sources = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.question[:60]


class Run(models.Model):
    """One reply (or preview, or slow job) and what answered it."""

    class Kind(models.TextChoices):
        REPLY = "reply"
        PREVIEW = "preview"
        JOB = "job"

    class AnsweredBy(models.TextChoices):
        MODEL = "model"
        CACHE = "cache"
        RULE = "rule"
        GUARD = "guard"
        KNOWLEDGE = "knowledge"
        STATIC = "static"
        OFFLINE = "offline"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REPLY)
    # Kept when the conversation is deleted: what replies cost stays countable. A reply
    # answered again (Retry) has a run per attempt.
    message = models.ForeignKey(
        "chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    answered_by = models.CharField(max_length=16, choices=AnsweredBy.choices, blank=True)
    cache_tier = models.CharField(max_length=16, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=128, blank=True)
    prompt_version = models.ForeignKey(
        PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    cost_estimated = models.BooleanField(default=False)
    started_at = models.DateTimeField(db_index=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=16)  # the message's status, or "complete"
    error_code = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.answered_by or self.outcome})"


class Step(models.Model):
    """One stage of a run, in order."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=32)
    start_ms = models.FloatField()  # from the run's start
    duration_ms = models.FloatField()
    outcome = models.CharField(max_length=16)
    detail = models.JSONField(default=dict, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="step_position"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.outcome}"
