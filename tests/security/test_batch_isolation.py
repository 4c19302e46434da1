"""One send's failure is its own: the rest of its burst is stored and answered.

Runs on SQLite, and on PostgreSQL with ``DATABASE_URL`` (as CI does)."""

from __future__ import annotations

import pytest
from django.http import Http404

from chat.models import Conversation, Message
from chat.owners import Owner
from chat.services import SendRequest, lease_holder, messages_send
from chat.validation import InputError

pytestmark = pytest.mark.django_db


def _burst(n: int) -> list[SendRequest]:
    owners = [Owner(anon_id=f"poison-{i}") for i in range(n)]
    conversations = [Conversation.objects.create(owner_anon=o.anon_id or "") for o in owners]
    return [
        SendRequest(o, c, f"hi {i}", "1.2.3.4")
        for i, (o, c) in enumerate(zip(owners, conversations, strict=True))
    ]


def test_a_value_the_database_refuses_fails_only_its_own_send() -> None:
    requests = _burst(5)
    # A lone surrogate is refused by validation; here it reaches the store regardless, as
    # anything the driver cannot encode would.
    poisoned = SendRequest(requests[2].owner, requests[2].conversation, "bad \ud800", "1.2.3.4")
    requests[2] = poisoned
    results = messages_send(requests=requests)

    failure = results[2]
    assert isinstance(failure, InputError) and "cannot be stored" in failure.message
    assert lease_holder(poisoned.conversation.pk) is None  # free for the next try
    assert not Message.objects.filter(conversation=poisoned.conversation).exists()
    for i in (0, 1, 3, 4):
        job = results[i]
        assert not isinstance(job, Exception)
        assert job.user_message is not None and job.user_message.content == f"hi {i}"
        stored = Message.objects.filter(conversation=requests[i].conversation).order_by("id")
        assert [(m.role, m.content, m.status) for m in stored] == [
            ("user", f"hi {i}", "complete"),
            ("assistant", "", "pending"),
        ]
        assert lease_holder(requests[i].conversation.pk) is not None
    assert Message.objects.count() == 8


@pytest.mark.django_db(transaction=True)  # foreign keys are checked at commit
def test_a_conversation_deleted_mid_burst_fails_only_its_own_send() -> None:
    requests = _burst(3)
    Conversation.objects.filter(pk=requests[1].conversation.pk).delete()
    results = messages_send(requests=requests)
    assert isinstance(results[1], Http404)
    assert [isinstance(r, Exception) for r in results] == [False, True, False]
    assert Message.objects.count() == 4
