from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Conversation(models.Model):
    """A chat thread, owned by a user account or, for visitors, by an anonymous session id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="conversations",
    )
    # A random id kept in the visitor's session data (not the session key, which
    # Django rotates at login), so a visitor's chats can move to the account they log into.
    owner_anon = models.CharField(max_length=64, blank=True, db_index=True)
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    archived = models.BooleanField(default=False)
    # What the model is told of turns too old to send verbatim (agents.pipeline.memory),
    # and the last message it covers.
    summary = models.TextField(blank=True)
    summary_through = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner_user", "-updated_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner_user__isnull=False) | ~Q(owner_anon=""),
                name="conversation_has_owner",
            )
        ]

    def __str__(self) -> str:
        return self.title or "New conversation"

    @property
    def display_title(self) -> str:
        return self.title or "New conversation"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        SYSTEM = "system"

    class Status(models.TextChoices):
        PENDING = "pending"
        STREAMING = "streaming"
        COMPLETE = "complete"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    # A reply still being generated (or about to be).
    LIVE_STATUSES = (Status.PENDING, Status.STREAMING)

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    error_code = models.CharField(max_length=32, blank=True)
    tokens_in = models.PositiveIntegerField(null=True, blank=True)
    tokens_out = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=128, blank=True)
    prompt_version = models.CharField(max_length=80, blank=True)
    # What answered: model, cache, rule, guard, knowledge, static or offline (a reply's Run
    # says more; this column lets a page show it without reading runs).
    answered_by = models.CharField(max_length=16, blank=True)
    # The knowledge-base passages the reply cited ({n, document_id, position, title,
    # heading}) and the tools it called (names, in order of first use).
    sources = models.JSONField(default=list, blank=True)
    tools_used = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)  # queued
    first_token_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["conversation", "id"]),
            # The replies still live, few at any time: swept for orphans every few seconds.
            models.Index(
                fields=["id"],
                condition=models.Q(status__in=["pending", "streaming"]),
                name="chat_message_live",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def dom_id(self) -> str:
        return f"msg-{self.pk}"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES
