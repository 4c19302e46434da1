from __future__ import annotations

from typing import Any

import pytest
from django.http import Http404

from agents.pipeline import staff_config
from chat.live.titles import conversation_title_update
from chat.models import Conversation, Message
from chat.owners import Owner
from chat.ratelimits import RateLimited
from chat.selectors import (
    conversation_get_for_owner,
    conversation_list,
    message_histories,
    message_history,
)
from chat.services import (
    Checkpoint,
    ConversationBusy,
    ReplyOutcome,
    SendRequest,
    conversation_connect,
    lease_acquire,
    lease_holder,
    message_finish,
    message_send,
    messages_checkpoint,
    messages_send,
    sends_admit,
)

pytestmark = pytest.mark.django_db

VISITOR = Owner(anon_id="visitor-1")


@pytest.fixture
def conversation() -> Conversation:
    return Conversation.objects.create(owner_anon="visitor-1")


def test_the_access_helper_hides_other_owners(alice: Any, conversation: Conversation) -> None:
    assert conversation_get_for_owner(owner=VISITOR, pk=conversation.pk) == conversation
    for stranger in (Owner(anon_id="visitor-2"), Owner(user_id=alice.pk), None):
        with pytest.raises(Http404):
            conversation_get_for_owner(owner=stranger, pk=conversation.pk)
    with pytest.raises(Http404):
        conversation_get_for_owner(owner=VISITOR, pk="not-a-uuid")


def test_an_account_does_not_see_a_visitors_chats_with_an_empty_anon_id(alice: Any) -> None:
    Conversation.objects.create(owner_user=alice)
    assert list(conversation_list(owner=Owner(anon_id=""))) == []


def test_sending_stores_the_message_and_a_pending_reply(conversation: Conversation) -> None:
    job = message_send(owner=VISITOR, conversation=conversation, text="hi", ip="1.2.3.4")
    user, reply = Message.objects.order_by("id")
    assert (user.role, user.content, user.status) == ("user", "hi", "complete")
    assert (reply.role, reply.status) == ("assistant", "pending")
    assert job.history == [{"role": "user", "content": "hi"}]
    assert job.needs_title and lease_holder(conversation.pk)


# Text that a database array or a VALUES list must carry as is.
TRICKY = ['a "quoted", {braced} \\ text', "NULL", "multi\nline ☃ 'single'"]


def test_a_burst_of_sends_stores_each_exchange_in_its_own_conversation() -> None:
    owners = [Owner(anon_id=f"burst-{i}") for i in range(3)]
    conversations = [Conversation.objects.create(owner_anon=o.anon_id or "") for o in owners]
    Message.objects.create(conversation=conversations[1], role="user", content="earlier")
    requests = [
        SendRequest(owner, conversation, f"<b>question {i}</b>{TRICKY[i]}", "1.2.3.4")
        for i, (owner, conversation) in enumerate(zip(owners, conversations, strict=True))
    ]
    jobs = messages_send(requests=requests)
    for i, (job, conversation) in enumerate(zip(jobs, conversations, strict=True)):
        assert not isinstance(job, Exception) and job.user_message is not None
        user = Message.objects.get(pk=job.user_message.pk)
        reply = Message.objects.get(pk=job.reply.pk)
        assert (user.conversation_id, user.role, user.status) == (
            conversation.pk,
            "user",
            "complete",
        )
        assert user.content == job.user_message.content == f"<b>question {i}</b>{TRICKY[i]}"
        assert (reply.conversation_id, reply.role, reply.status) == (
            conversation.pk, "assistant", "pending",
        )  # fmt: skip
        assert reply.content == "" and reply.created_at == job.reply.created_at
        assert user.pk < reply.pk and job.history[-1]["content"] == user.content
    assert [len(job.history) for job in jobs if not isinstance(job, Exception)] == [1, 2, 1]
    assert Message.objects.count() == 7


def test_a_second_send_before_the_reply_ends_stores_nothing(conversation: Conversation) -> None:
    message_send(owner=VISITOR, conversation=conversation, text="one", ip="1.2.3.4")
    with pytest.raises(ConversationBusy):
        message_send(owner=VISITOR, conversation=conversation, text="two", ip="1.2.3.4")
    assert Message.objects.count() == 2


def test_finishing_a_reply_releases_the_conversation(conversation: Conversation) -> None:
    job = message_send(owner=VISITOR, conversation=conversation, text="one", ip="1.2.3.4")
    message_finish(job=job, outcome=ReplyOutcome(status="complete", content="Answer"))
    job.reply.refresh_from_db()
    assert (job.reply.status, job.reply.content) == ("complete", "Answer")
    assert job.reply.done_at is not None
    assert lease_holder(conversation.pk) is None
    message_send(owner=VISITOR, conversation=conversation, text="two", ip="1.2.3.4")


def test_finishing_replies_moves_their_conversations_up_the_list() -> None:
    from chat.services import messages_finish

    older, newer = (Conversation.objects.create(owner_anon="visitor-1") for _ in range(2))
    assert list(conversation_list(owner=VISITOR)) == [newer, older]
    job = message_send(owner=VISITOR, conversation=older, text="back to this", ip="1.2.3.4")
    before = Conversation.objects.get(pk=older.pk).updated_at
    messages_finish(finished=[(job, ReplyOutcome(status="complete", content="Answer"))])
    assert Conversation.objects.get(pk=older.pk).updated_at > before
    assert list(conversation_list(owner=VISITOR)) == [older, newer]


def test_history_skips_failed_replies_and_keeps_order(conversation: Conversation) -> None:
    for role, status, content in [
        ("user", "complete", "q1"),
        ("assistant", "failed", "broken"),
        ("user", "complete", "q2"),
        ("assistant", "complete", "a2"),
        ("user", "complete", "q3"),
    ]:
        Message.objects.create(conversation=conversation, role=role, status=status, content=content)
    history = message_history(conversation_id=conversation.pk, limit=3)
    assert [m["content"] for m in history] == ["q2", "a2", "q3"]


def test_histories_of_many_conversations_match_each_history() -> None:
    conversations = [Conversation.objects.create(owner_anon="h") for _ in range(3)]
    turns = [("user", "complete", "q1"), ("assistant", "failed", "broken"),
             ("user", "complete", "q2"), ("assistant", "complete", "a2 <b>"),
             ("user", "complete", "q3"), ("assistant", "pending", "")]  # fmt: skip
    for n, conversation in enumerate(conversations):
        for role, status, content in turns[: 2 + 2 * n]:
            Message.objects.create(
                conversation=conversation, role=role, status=status, content=f"{content}/{n}"
            )
    empty = Conversation.objects.create(owner_anon="h")
    ids = [c.pk for c in [*conversations, empty]]
    histories = message_histories(conversation_ids=ids, limit=2)
    assert histories == {pk: message_history(conversation_id=pk, limit=2) for pk in ids}
    assert [m["content"] for m in histories[conversations[2].pk]] == ["a2 <b>/2", "q3/2"]
    assert histories[empty.pk] == [] and message_histories(conversation_ids=[], limit=2) == {}


def test_connecting_costs_two_queries(
    conversation: Conversation, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(2):
        state = conversation_connect(owner=VISITOR, conversation_id=conversation.pk)
    assert state.live_message is None


def test_the_title_task_is_idempotent_and_never_overrides_a_rename(
    conversation: Conversation,
) -> None:
    Message.objects.create(conversation=conversation, role="user", content="Best pizza in Naples")
    title = conversation_title_update(conversation_id=conversation.pk)
    assert title and Conversation.objects.get().title == title
    assert conversation_title_update(conversation_id=conversation.pk) is None
    Conversation.objects.update(title="Mine")
    assert conversation_title_update(conversation_id=conversation.pk) is None
    assert Conversation.objects.get().title == "Mine"


def test_the_title_falls_back_to_the_first_words_offline(
    settings: Any, conversation: Conversation
) -> None:
    settings.OPENAI_BASE_URL = ""
    Message.objects.create(
        conversation=conversation, role="user", content="one two three four five six seven"
    )
    assert (
        conversation_title_update(conversation_id=conversation.pk) == "one two three four five six…"
    )


def test_checkpoints_save_the_partial_text_of_each_reply(conversation: Conversation) -> None:
    from django.utils import timezone

    other = Conversation.objects.create(owner_anon="visitor-2")
    replies = [
        Message.objects.create(conversation=c, role="assistant", status="pending")
        for c in (conversation, other)
    ]
    started = timezone.now()
    messages_checkpoint(
        checkpoints=[
            Checkpoint(
                message_id=replies[0].pk, content="Half an <b>answer", first_token_at=started
            ),
            Checkpoint(replies[1].pk, "Another", first_token_at=started),
        ]
    )
    saved = {m.pk: m for m in Message.objects.filter(pk__in=[r.pk for r in replies])}
    assert saved[replies[0].pk].content == "Half an <b>answer"
    assert saved[replies[1].pk].content == "Another"
    assert all(m.status == "streaming" and m.first_token_at == started for m in saved.values())


def test_a_conversations_lease_outlives_a_busy_cache(conversation: Conversation) -> None:
    """Hundreds of people chatting at once fill the cache with sessions; none of them may
    push a lease out (a second reply would start): leases are kept apart from the cache."""
    from django.core.cache import cache

    assert lease_acquire(conversation.pk)
    for n in range(1000):
        cache.set(f"busy:{n}", n)
    assert lease_holder(conversation.pk) is not None
    assert not lease_acquire(conversation.pk)


def request(owner: Owner, ip: str, conversation: Conversation) -> SendRequest:
    return SendRequest(owner, conversation, "hi", ip)


def test_a_burst_over_the_limit_refuses_only_the_excess(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "2/h"
    owner = Owner(user_id=8)
    conversations = [Conversation.objects.create(owner_anon="b") for _ in range(3)]
    results = sends_admit(requests=[request(owner, f"10.2.2.{n}", c) for n, c in
                                    enumerate(conversations)])  # fmt: skip
    assert results[:2] == [None, None]
    assert isinstance(results[2], RateLimited) and results[2].retry_after > 0
    assert lease_holder(conversations[2].pk) is None  # refused: no lease taken


def test_a_burst_from_one_address_counts_each_send(settings: Any) -> None:
    settings.ORION_RATE_LIMIT = "3/h"
    conversations = [Conversation.objects.create(owner_anon=f"a{n}") for n in range(5)]
    results = sends_admit(
        requests=[request(Owner(user_id=100 + n), "10.4.4.4", c) for n, c in
                  enumerate(conversations)]
    )  # fmt: skip
    assert results[:3] == [None, None, None]
    assert all(isinstance(result, RateLimited) for result in results[3:])


def test_two_sends_to_one_conversation_in_a_burst_admit_one(conversation: Conversation) -> None:
    results = sends_admit(requests=[request(VISITOR, "10.3.3.3", conversation)] * 2)
    assert results[0] is None and isinstance(results[1], ConversationBusy)
    assert lease_holder(conversation.pk) is not None


def test_a_burst_of_sends_is_stored_in_a_fixed_number_of_queries(
    settings: Any, django_assert_num_queries: Any
) -> None:
    settings.ORION_RATE_LIMIT = "1000/m"
    conversations = [Conversation.objects.create(owner_anon=f"q{n}") for n in range(20)]
    requests = [request(Owner(anon_id=f"q{n}"), "10.9.9.9", c) for n, c in
                enumerate(conversations)]  # fmt: skip
    staff_config()  # staff's prompts and rules are read once, not per burst
    # One insert of every message (in a savepoint here, inside the test's transaction), one
    # read of every conversation's history and one lookup in the answer cache's table,
    # whatever the size of the burst.
    with django_assert_num_queries(5):
        jobs = messages_send(requests=requests)
    assert not any(isinstance(job, Exception) for job in jobs)


def test_a_burst_insert_puts_each_value_on_its_own_row(conversation: Conversation) -> None:
    from chat.services.bulk import messages_insert

    other = Conversation.objects.create(owner_anon="visitor-2")
    new = [
        Message(conversation=conversation, role="user", content=TRICKY[0]),
        Message(conversation=other, role="user", content=TRICKY[1]),
        Message(conversation=conversation, role="assistant", status="pending"),
        Message(conversation=other, role="assistant", status="failed", error_code="timeout"),
    ]
    messages_insert(new)
    assert all(m.pk for m in new) and new[0].pk < new[1].pk < new[2].pk < new[3].pk
    stored = {m.pk: m for m in Message.objects.all()}
    for message in new:
        row = stored[message.pk]
        assert (row.conversation_id, row.role, row.status, row.content, row.error_code) == (
            message.conversation_id, message.role, message.status, message.content,
            message.error_code,
        )  # fmt: skip
        assert row.created_at == message.created_at is not None
    twins = [Message(conversation=other, role="user", content="same") for _ in range(2)]
    messages_insert(twins)  # rows that do not differ at all
    assert Message.objects.filter(content="same").count() == 2


def test_a_burst_of_finishes_is_stored_in_a_fixed_number_of_queries(
    settings: Any, django_assert_num_queries: Any
) -> None:
    from decimal import Decimal

    from chat.services import messages_finish

    settings.ORION_RATE_LIMIT = "1000/m"
    conversations = [Conversation.objects.create(owner_anon=f"f{n}") for n in range(12)]
    jobs = messages_send(
        requests=[request(Owner(anon_id=f"f{n}"), "10.8.8.8", c) for n, c in
                  enumerate(conversations)]
    )  # fmt: skip
    outcomes = [
        ReplyOutcome(status="complete", content=f"Answer {n} <b>", tokens_in=n, tokens_out=2 * n,
                     cost=Decimal("0.000125") * n, provider="sim", model=f"m{n}")
        if n % 3 else ReplyOutcome(status="failed", content="", error_code="timeout")
        for n in range(12)
    ]  # fmt: skip
    # One statement for every reply, one for their conversations (in a savepoint here).
    with django_assert_num_queries(4):
        messages_finish(finished=list(zip(jobs, outcomes, strict=True)))  # type: ignore[arg-type]
    for job, outcome in zip(jobs, outcomes, strict=True):
        row = Message.objects.get(pk=job.reply.pk)  # type: ignore[union-attr]
        assert (row.status, row.content, row.error_code, row.tokens_in, row.tokens_out,
                row.cost, row.provider, row.model) == (
            outcome.status, outcome.content, outcome.error_code, outcome.tokens_in,
            outcome.tokens_out, outcome.cost, outcome.provider, outcome.model,
        )  # fmt: skip
        assert row.done_at is not None
        assert lease_holder(job.conversation_id) is None  # type: ignore[union-attr]
