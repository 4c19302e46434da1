from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from agents.pipeline import fallback_path, prompt_version_link
from chat.models import Conversation, Message


class MessageInline(admin.StackedInline):
    """Each message as a block (a table of 13 columns left the text a word wide)."""

    model = Message
    fields = (
        ("role", "status", "answered_by", "model"), "content",
        ("tokens_in", "tokens_out", "cost", "error_code"),
        ("created_at", "first_token_at", "done_at"), "runs_shown",
    )  # fmt: skip
    readonly_fields = (
        "role", "status", "content", "error_code", "answered_by", "tokens_in", "tokens_out",
        "cost", "model", "created_at", "first_token_at", "done_at", "runs_shown",
    )  # fmt: skip
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related("runs__steps", "runs__prompt_version__prompt")
        )

    @admin.display(description="Run and steps")
    def runs_shown(self, message: Message) -> str:
        """Each run of an assistant message: what answered, its prompt version, tokens,
        cost, cache tier and the providers tried, then its stages in order."""
        return format_html_join(
            "",
            '<div class="run-summary"><a href="{}">{} · {}</a> · {} · {} → {} tokens · '
            "${} · cache: {} · tried: {}<br>{}</div>",
            (
                (
                    reverse("admin:agents_run_change", args=[run.pk]),
                    run.answered_by or "—",
                    run.outcome,
                    prompt_version_link(run.prompt_version),
                    run.tokens_in,
                    run.tokens_out,
                    run.cost,
                    run.cache_tier or "—",
                    fallback_path(run.steps.all()),
                    " → ".join(
                        f"{s.name} {s.outcome} ({s.duration_ms:.1f} ms)"
                        for s in sorted(run.steps.all(), key=lambda s: s.position)
                    ),
                )
                for run in message.runs.all()
            ),
        ) or format_html("{}", "—")


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Read-only transcripts: staff look, they do not edit what people said."""

    list_display = ["display_title", "owner_user", "created_at", "updated_at", "archived"]
    list_filter = ["archived", "created_at"]
    search_fields = ["title", "owner_user__username"]
    readonly_fields = ["id", "owner_user", "owner_anon", "title", "created_at", "updated_at"]
    inlines = [MessageInline]
    list_select_related = ["owner_user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # superusers too: a transcript is a record
