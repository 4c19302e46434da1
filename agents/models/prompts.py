"""Prompts, their versions and every step of each version's review."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Prompt(models.Model):
    key = models.SlugField(max_length=64, unique=True, help_text="e.g. chat.system")
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["key"]
        permissions = [("publish_prompt", "Can publish and roll back prompt versions")]

    def __str__(self) -> str:
        return self.key


class PromptVersion(models.Model):
    """One text of a prompt. A draft is edited until it is submitted or published; from
    then on the text never changes (replies recorded which text they used)."""

    class State(models.TextChoices):
        DRAFT = "draft", "draft"
        REVIEW = "review", "in review"
        PUBLISHED = "published", "published"
        RETIRED = "retired", "retired"

    OPEN_STATES = (State.DRAFT, State.REVIEW)

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    note = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)

    class Meta:
        ordering = ["prompt", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="prompt_version_number"),
            models.UniqueConstraint(
                fields=["prompt"], condition=Q(state="published"), name="prompt_one_published"
            ),
            models.UniqueConstraint(
                fields=["prompt"], condition=Q(state__in=["draft", "review"]),
                name="prompt_one_open_draft",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """How runs and messages name it: ``chat.system v3``."""
        return f"{self.prompt.key} v{self.number}"

    @property
    def published(self) -> bool:
        return self.state == self.State.PUBLISHED


class PromptEvent(models.Model):
    """One step of a version's life: saved, submitted, sent back, published, rolled back,
    retired; who did it, when, and what they said."""

    class Action(models.TextChoices):
        SAVED = "saved", "saved"
        SUBMITTED = "submitted", "submitted for review"
        SENT_BACK = "sent_back", "sent back"
        PUBLISHED = "published", "published"
        ROLLED_BACK = "rolled_back", "published again (roll back)"
        RETIRED = "retired", "retired"

    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["version", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.version_id} {self.action}"
