from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from chat.models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    fields = readonly_fields = (
        "role", "status", "content", "error_code", "tokens_in", "tokens_out", "cost", "model",
        "created_at", "first_token_at", "done_at",
    )  # fmt: skip
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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
