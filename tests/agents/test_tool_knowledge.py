"""The knowledge base's tool over really ingested documents: numbered passages, limits,
audiences, and a search on the database thread through the runner."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents.knowledge.ingest import document_add, document_ingest, upload_from_file
from agents.models import Document
from agents.tools import TOOLS, ToolContext, tools_run
from tests.agents.test_tools import ALL, call, everyone, staff

GUIDE = """# Orion guide

## Stopping an answer

Press Stop, or Esc, to end an answer at once. The text so far stays, marked stopped.

## Passwords

Change your password on the account page, under Security.
"""
PAYROLL = """# Payroll

## Salary bands

Salary bands are reviewed every April by the payroll committee.
"""


def ingest(name: str, text: str, audience: str = "everyone") -> Document:
    document = document_add(upload=upload_from_file(name, text.encode()), user=None)
    Document.objects.filter(pk=document.pk).update(audience=audience)
    document = document_ingest(document_id=document.pk)
    assert document.status == Document.Status.READY, document.error
    return document


def search_tool(arguments: dict[str, Any], context: ToolContext | None = None) -> str:
    return TOOLS["knowledge_search"].function(arguments, context or everyone())


@pytest.mark.django_db
def test_knowledge_search_numbers_passages_after_the_replys_own() -> None:
    ingest("guide.md", GUIDE)
    context = everyone()
    first = search_tool({"query": "password", "limit": 1}, context)
    again = search_tool({"query": "password", "limit": 1}, context)
    assert first.startswith("[1] ") and again == first  # the same passage, the same number
    assert len(context.passages) == 1


@pytest.mark.django_db
def test_knowledge_search_returns_numbered_passages_under_their_headings() -> None:
    ingest("guide.md", GUIDE)

    text = search_tool({"query": "how do I change my password?"})

    first, *others = text.split("\n\n")
    assert first == (
        "[1] Orion guide › Passwords\nChange your password on the account page, under Security."
    )
    assert all(part.startswith(f"[{n}] ") for n, part in enumerate(others, start=2))


@pytest.mark.django_db
def test_knowledge_search_honours_the_limit() -> None:
    ingest("guide.md", GUIDE)
    ingest("more.md", "# More\n\n## Stop\n\nStop ends an answer.\n\n## Esc\n\nEsc stops too.\n")

    assert search_tool({"query": "stop answer", "limit": 1}).count("\n[") == 0
    assert search_tool({"query": "stop answer", "limit": 2.0}).startswith("[1] ")
    assert "[2] " in search_tool({"query": "stop answer", "limit": 2})
    assert "[3] " not in search_tool({"query": "stop answer", "limit": 2})


@pytest.mark.django_db
def test_knowledge_search_keeps_documents_from_those_who_may_not_see_them() -> None:
    ingest("payroll.md", PAYROLL, audience="staff")

    assert search_tool({"query": "salary bands"}) == "No passages found."
    assert "Salary bands are reviewed" in search_tool({"query": "salary bands"}, staff())


@pytest.mark.django_db
def test_knowledge_search_with_nothing_matching_says_so() -> None:
    ingest("guide.md", GUIDE)

    assert search_tool({"query": "volcanoes"}) == "No passages found."


@pytest.mark.django_db(transaction=True)
async def test_knowledge_search_runs_on_the_database_thread_through_the_runner() -> None:
    await sync_to_async(ingest)("guide.md", GUIDE)
    await sync_to_async(ingest)("payroll.md", PAYROLL, "staff")

    found, hidden = await tools_run(
        [
            call("knowledge_search", {"query": "stopping an answer"}, id="a"),
            call("knowledge_search", {"query": "salary bands"}, id="b"),
        ],
        enabled=ALL,
        context=everyone(),
    )

    assert found.ok and found.content.startswith("[1] Orion guide › Stopping an answer")
    assert hidden.ok and hidden.content == "No passages found."
    assert [found.call.id, hidden.call.id] == ["a", "b"]
