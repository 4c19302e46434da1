"""Writes. Plain synchronous functions with keyword-only arguments, callable without HTTP or
sockets; async callers wrap them in ``database_sync_to_async``."""

from __future__ import annotations

from chat.services.admission import (
    INSTANCE_ID,
    lease_acquire,
    lease_holder,
    lease_refresh,
    lease_release,
    leases_release,
)
from chat.services.conversations import (
    conversation_create,
    conversation_delete,
    conversation_rename,
    conversation_summary_update,
    conversation_title_set,
    conversations_claim,
)
from chat.services.replies import (
    Checkpoint,
    ConnectState,
    ReplyOutcome,
    conversation_connect,
    message_finish,
    message_mark_interrupted,
    messages_checkpoint,
    messages_finish,
    replies_mark_interrupted,
    replies_orphaned,
    reply_if_over,
)
from chat.services.sending import (
    ConversationBusy,
    NotStored,
    ReplyJob,
    SendRequest,
    exchanges_store,
    message_retry,
    message_send,
    messages_send,
    sends_admit,
)

__all__ = [
    "INSTANCE_ID",
    "Checkpoint",
    "ConnectState",
    "ConversationBusy",
    "NotStored",
    "ReplyJob",
    "ReplyOutcome",
    "SendRequest",
    "conversation_connect",
    "conversation_create",
    "conversation_delete",
    "conversation_rename",
    "conversation_summary_update",
    "conversation_title_set",
    "conversations_claim",
    "exchanges_store",
    "lease_acquire",
    "lease_holder",
    "lease_refresh",
    "lease_release",
    "leases_release",
    "message_finish",
    "message_mark_interrupted",
    "message_retry",
    "message_send",
    "messages_checkpoint",
    "messages_finish",
    "messages_send",
    "replies_mark_interrupted",
    "replies_orphaned",
    "reply_if_over",
    "sends_admit",
]
