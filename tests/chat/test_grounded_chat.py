"""Sources and tools as people see them: under the reply, over the socket and on reload."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from agents.knowledge.ingest import Upload, document_add, document_ingest
from chat.models import Conversation, Message
from tests.chat.test_consumer import connect, frames_until_done, send, stop_replies, visitor

pytestmark = pytest.mark.django_db(transaction=True)

GUIDE = b"""# Orion guide

## Stopping an answer

Press the Stop button while an answer streams to end it at once. The text so far stays.
"""
SOURCE_LINK = re.compile(r'<a href="(/knowledge/documents/\d+/\?passage=\d+#passage-\d+)" '
                         r'data-source="1">\[1\] Orion guide › Stopping an answer</a>')  # fmt: skip


def ingest_guide() -> None:
    upload = Upload("Orion guide", "guide.md", "markdown", GUIDE)
    document_ingest(document_id=document_add(upload=upload, user=None).pk)


async def ask(question: str) -> tuple[Conversation, str]:
    """A visitor's new conversation, and the last frame of the reply to ``question``."""
    _, cookie, conversation = await visitor()
    communicator = await connect(conversation, cookie)
    try:
        await send(communicator, question)
        final = (await frames_until_done(communicator))[-1]
    finally:
        await communicator.disconnect()
        await stop_replies()
    return conversation, final


async def test_a_grounded_reply_shows_its_sources_live_and_after_reload(alice: Any) -> None:
    await database_sync_to_async(ingest_guide)()
    conversation, final = await ask("How do I stop an answer while it streams?")
    assert 'data-part="sources"' in final
    link = SOURCE_LINK.search(final)
    assert link is not None, final
    # the citation in the text links to the same passage
    assert f'<a class="cite" href="{link.group(1)}" data-cite="1"' in final, final
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.sources[0]["label"] == "Orion guide › Stopping an answer"
    # The link opens the passage for the same visitor (a new browser, even).
    page = await database_sync_to_async(Client().get)(link.group(1).split("#")[0])
    assert page.status_code == 200 and "Press the Stop button" in page.content.decode()


async def test_a_reply_that_used_the_calculator_says_so() -> None:
    conversation, final = await ask("What is 12 * (3 + 4)?")
    assert re.search(r'data-part="tools">Used the calculator<', final), final
    assert "84" in final
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.tools_used == ["calculator"]


def test_sources_that_name_no_document_are_not_linked(alice: Any) -> None:
    conversation = Conversation.objects.create(owner_user=alice)
    Message.objects.create(conversation=conversation, role="assistant",
                           content="Hi [1], see [2].",
                           sources=[{"n": 1, "document_id": "1/../../admin", "chunk_id": 2,
                                     "title": "x", "label": "<b>x</b>"},
                                    {"n": 2, "document_id": 5, "chunk_id": 9,
                                     "title": "T", "label": "<i>Guide</i>"}])  # fmt: skip
    client = Client()
    client.force_login(alice)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert "admin" not in page.split('data-part="sources"')[1].split("</nav>")[0]
    assert '<a href="/knowledge/documents/5/?passage=9#passage-9" data-source="2">' in page
    assert "[2] &lt;i&gt;Guide&lt;/i&gt;" in page
    assert ('Hi [1], see <a class="cite" href="/knowledge/documents/5/?passage=9#passage-9" '
            'data-cite="2" title="&lt;i&gt;Guide&lt;/i&gt;">[2]</a>.') in page  # fmt: skip
