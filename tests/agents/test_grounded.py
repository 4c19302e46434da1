"""Grounded answers: passages into the prompt, sources out of the reply, the ladder's
knowledge tier, and the audiences that keep staff-only documents to staff."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents.knowledge.citations import (
    cited_numbers,
    knowledge_extract,
    passages_block,
    sources_cited,
)
from agents.knowledge.ingest import Upload, document_add, document_ingest
from agents.knowledge.types import Hit
from agents.models import CachedAnswer, Document, Provider
from agents.pipeline import AnswerDone, AnswerError, TextDelta, answer_stream, replies_prepare
from agents.pipeline.ladder import passage_relevant
from agents.pipeline.retrieve import reply_sources, retrieval_query
from agents.pipeline.stages import ReplyContext

pytestmark = pytest.mark.django_db(transaction=True)

GUIDE = """# Orion guide

## Stopping an answer

Press the Stop button while an answer streams to end it at once. The text so far stays.

## Exporting conversations

Open the conversation menu and choose Export to download it as Markdown or JSON.
"""
SECRETS = """# Salary bands

## Engineering salary bands

The engineering salary bands for senior engineers are confidential and reviewed yearly.
"""
EVERYONE = ("everyone",)
STAFF = ("everyone", "signed_in", "staff")


def add(title: str, text: str, audience: str = Document.Audience.EVERYONE) -> Document:
    document = document_add(upload=Upload(title, f"{title}.md", "markdown", text.encode()),
                            user=None)  # fmt: skip
    Document.objects.filter(pk=document.pk).update(audience=audience)
    return document_ingest(document_id=document.pk)


def hit(n: int, text: str = "Press Stop to end an answer.") -> Hit:
    return Hit(chunk_id=100 + n, document_id=7, title="Guide", heading_path=f"Part {n}",
               text=text, score=1.0)  # fmt: skip


async def answer(
    question: str,
    audiences: tuple[str, ...] = EVERYONE,
    history: list[dict[str, str]] | None = None,
) -> tuple[ReplyContext, str, AnswerDone]:
    turns = [*(history or []), {"role": "user", "content": question}]
    (context,) = await sync_to_async(replies_prepare)([turns], audiences=[audiences])
    text, done = "", None
    async for event in answer_stream(context):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, AnswerDone):
            done = event
    assert done is not None
    return context, text, done


# --- the pieces -----------------------------------------------------------------------------


def test_passages_are_numbered_under_their_titles_in_one_block() -> None:
    block = passages_block([hit(1), hit(2, "Second.")])
    assert block.startswith("<passages>\n[1] Guide › Part 1\nPress Stop")
    assert "\n\n[2] Guide › Part 2\nSecond.\n</passages>" in block


@pytest.mark.parametrize(
    ("text", "numbers"),
    [("See [1].", [1]), ("Both [2, 1] and [1][3].", [2, 1, 3]), ("In [2026] or [a link](x)", []),
     ("none", [])],
)  # fmt: skip
def test_citations_are_read_as_models_write_them(text: str, numbers: list[int]) -> None:
    assert cited_numbers(text) == numbers


def test_sources_are_the_cited_passages_only_and_made_up_numbers_are_ignored() -> None:
    sources = sources_cited("As [2] says, and [9].", [hit(1), hit(2)])
    assert [(s["n"], s["chunk_id"], s["heading"]) for s in sources] == [(2, 102, "Part 2")]
    assert sources_cited("No citation here.", [hit(1)]) == []


def test_a_short_follow_up_is_searched_with_the_question_before_it() -> None:
    history = [{"role": "user", "content": "How do I export a conversation?"},
               {"role": "assistant", "content": "Use the menu."},
               {"role": "user", "content": "and as JSON?"}]  # fmt: skip
    assert retrieval_query(history) == "How do I export a conversation?\nand as JSON?"
    assert retrieval_query(history[:1]) == "How do I export a conversation?"


def test_the_extract_cuts_long_passages_at_a_sentence_end() -> None:
    long = "First sentence here. " * 60
    text = knowledge_extract([hit(1, long), hit(2), hit(3)])
    assert text.startswith("The model is unavailable right now")
    assert "[1] Guide › Part 1" in text and "[2] Guide › Part 2" in text and "[3]" not in text
    quoted = text.split("> ")[1].split("\n")[0]
    assert quoted.endswith("here.") and len(quoted) <= 600


def test_a_passage_is_relevant_when_most_of_the_question_is_in_it() -> None:
    assert passage_relevant("How do I stop an answer?", "Press Stop to end an answer.")
    assert not passage_relevant("What is the weather in Paris?", "Press Stop to end an answer.")
    # Every word of a long passage counts, not only its first few dozen.
    long = " ".join(f"filler{n}" for n in range(60)) + " Press Stop to end an answer."
    assert passage_relevant("How do I stop an answer?", long)


# --- through the pipeline and the simulator ---------------------------------------------------


async def test_with_no_documents_retrieval_is_skipped() -> None:
    context, _, _ = await answer("How do I stop an answer?")
    (step,) = [s for s in context.run.steps if s.name == "retrieve"]
    assert (step.outcome, step.detail) == ("skip", {"reason": "no_documents"})
    assert context.passages == ()


async def test_an_answer_cites_the_passage_and_its_source_links_to_it() -> None:
    await sync_to_async(add)("Orion guide", GUIDE)
    context, text, done = await answer("How do I stop an answer while it streams?")
    assert done.answered_by == "model"
    assert context.passages and "Stopping an answer" in context.passages[0].heading_path
    assert text.startswith("According to the knowledge base [1]: Press the Stop button")
    sources = reply_sources(context, text)
    assert [(s["n"], s["title"], s["label"]) for s in sources] == [
        (1, "Orion guide", "Orion guide › Stopping an answer")
    ]
    (step,) = [s for s in context.run.steps if s.name == "retrieve"]
    assert step.outcome == "found" and step.detail["chunks"][0] == context.passages[0].chunk_id


async def test_the_passages_reach_the_model_under_the_knowledge_prompt(settings: Any) -> None:
    await sync_to_async(add)("Orion guide", GUIDE)
    (context,) = await sync_to_async(replies_prepare)(
        [[{"role": "user", "content": "How do I export a conversation as JSON?"}]]
    )
    from agents.pipeline.generate import knowledge_text

    text = knowledge_text(context)
    assert text.startswith("Passages from the organisation's knowledge base")
    assert "<passages>\n[1] Orion guide › Exporting conversations\n" in text


async def test_staff_only_documents_answer_staff_and_never_visitors() -> None:
    await sync_to_async(add)("Salaries", SECRETS, Document.Audience.STAFF)
    question = "What are the engineering salary bands for senior engineers?"
    visitor, visitor_text, _ = await answer(question, EVERYONE)
    assert visitor.passages == () and "[1]" not in visitor_text
    staff, staff_text, _ = await answer(question, STAFF)
    assert staff.passages and staff_text.startswith("According to the knowledge base [1]")


async def test_a_cached_answer_keeps_its_sources_and_visitors_never_get_staffs() -> None:
    await sync_to_async(add)("Orion guide", GUIDE)
    await sync_to_async(add)("Salaries", SECRETS, Document.Audience.STAFF)
    question = "How do I stop an answer while it streams?"
    first, text, _ = await answer(question, STAFF)
    assert first.run.cache_put is not None and first.run.cache_put.sources
    from agents.pipeline.cache import answers_cache_store

    await sync_to_async(answers_cache_store)([first.run.cache_put])
    again, again_text, done = await answer(question, STAFF)
    assert done.answered_by == "cache" and again_text == text
    assert reply_sources(again, again_text) == first.run.cache_put.sources
    stored = await CachedAnswer.objects.aget(key=first.run.cache_put.key)
    assert stored.sources == first.run.cache_put.sources
    visitor, _, visitor_done = await answer(question, EVERYONE)
    assert visitor_done.answered_by == "model"  # another audience: another key


async def test_with_every_provider_down_the_knowledge_base_answers_with_sources() -> None:
    await sync_to_async(add)("Orion guide", GUIDE)
    await Provider.objects.acreate(name="down", base_url="http://127.0.0.1:9/v1", model="m")
    context, text, done = await answer("How do I stop an answer while it streams?")
    assert done.answered_by == "knowledge"
    assert text.startswith("The model is unavailable right now; here is what the knowledge")
    assert "Press the Stop button" in text
    assert [s["n"] for s in reply_sources(context, text)] == [1, 2][: len(context.passages)]
    (step,) = [s for s in context.run.steps if s.name == "degrade"]
    assert step.outcome == "knowledge"


async def test_with_every_provider_down_an_unrelated_question_fails_honestly() -> None:
    await sync_to_async(add)("Orion guide", GUIDE)
    await Provider.objects.acreate(name="down", base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(AnswerError):
        await answer("What is the weather like in Paris answer?")
