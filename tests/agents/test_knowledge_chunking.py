"""Cutting blocks into passages: by headings, then by length, with overlap."""

from __future__ import annotations

import pytest

from agents.knowledge.chunking import passages_make
from agents.knowledge.types import Block, Passage


def sentences(first: int, count: int) -> list[str]:
    return [f"Sentence {n} tells the reader fact number {n}." for n in range(first, first + count)]


def long_section() -> list[Block]:
    return [
        Block(("Guide", "Install"), " ".join(sentences(0, 30))),
        Block(("Guide", "Install"), "A short closing paragraph."),
    ]


def test_a_passage_never_spans_two_heading_paths() -> None:
    blocks = [
        Block(("Guide",), "Intro."),
        Block(("Guide", "Install"), "Run make."),
        Block(("Guide", "Install"), "Then open the page."),
        Block(("Guide", "Use"), "Ask a question."),
        Block(("Guide",), "Back at the top."),
    ]
    assert passages_make(blocks) == [
        Passage("Guide", "Intro."),
        Passage("Guide › Install", "Run make.\n\nThen open the page."),
        Passage("Guide › Use", "Ask a question."),
        Passage("Guide", "Back at the top."),
    ]


def test_blocks_without_headings_have_an_empty_heading_path() -> None:
    assert passages_make([Block((), "Just text.")]) == [Passage("", "Just text.")]


def test_short_paragraphs_are_packed_whole_up_to_max_chars() -> None:
    paragraphs = [f"Paragraph {n} is short." for n in range(10)]  # 20 characters each
    passages = passages_make([Block(("A",), p) for p in paragraphs], max_chars=70, overlap_chars=0)
    assert [p.text for p in passages] == [
        "\n\n".join(paragraphs[0:3]),
        "\n\n".join(paragraphs[3:6]),
        "\n\n".join(paragraphs[6:9]),
        paragraphs[9],
    ]


@pytest.mark.parametrize(("max_chars", "overlap_chars"), [(80, 0), (200, 50), (500, 150)])
def test_no_passage_is_longer_than_max_chars(max_chars: int, overlap_chars: int) -> None:
    blocks = [*long_section(), Block(("Other",), "x" * 1_000 + " tail words here.")]
    passages = passages_make(blocks, max_chars=max_chars, overlap_chars=overlap_chars)
    assert len(passages) > 3
    assert all(0 < len(p.text) <= max_chars for p in passages)


def test_a_long_paragraph_is_split_at_sentence_ends() -> None:
    passages = passages_make(long_section(), max_chars=300, overlap_chars=0)
    texts = [p.text for p in passages]
    assert len(texts) > 3
    assert all(t.startswith("Sentence ") and t.endswith(".") for t in texts)
    assert " ".join(texts) == " ".join(sentences(0, 30)) + "\n\nA short closing paragraph."


def overlap(before: str, after: str) -> str:
    """The longest end of ``before`` that ``after`` starts with."""
    return next((before[n:] for n in range(len(before)) if after.startswith(before[n:])), "")


def test_consecutive_passages_of_a_section_overlap_by_whole_sentences() -> None:
    passages = passages_make(long_section(), max_chars=300, overlap_chars=100)
    assert len(passages) > 3
    for before, after in zip(passages, passages[1:], strict=False):
        shared = overlap(before.text, after.text)
        assert 40 < len(shared) <= 100
        assert shared.startswith("Sentence ") and shared.endswith(".")
    assert passages[-1].text.endswith("\n\nA short closing paragraph.")


def test_passages_of_different_sections_do_not_overlap() -> None:
    blocks = [Block(("One",), " ".join(sentences(0, 10))), Block(("Two",), "Fresh start.")]
    passages = passages_make(blocks, max_chars=200, overlap_chars=100)
    assert passages[-1] == Passage("Two", "Fresh start.")


def test_a_sentence_longer_than_max_chars_is_split_between_words() -> None:
    words = [f"word{n}" for n in range(100)]
    passages = passages_make([Block((), " ".join(words))], max_chars=60, overlap_chars=20)
    for passage in passages:
        assert len(passage.text) <= 60
        assert all(w in words for w in passage.text.split(" "))
    for before, after in zip(passages, passages[1:], strict=False):
        shared = overlap(before.text, after.text)
        assert 10 < len(shared) <= 20 and shared.split(" ")[0] in words  # whole words


def test_a_word_longer_than_max_chars_is_cut_into_pieces() -> None:
    passages = passages_make([Block((), "a" * 250)], max_chars=100, overlap_chars=0)
    assert [len(p.text) for p in passages] == [100, 100, 50]


def test_whitespace_is_collapsed_and_paragraph_breaks_are_kept() -> None:
    blocks = [Block(("  Deep \n heading ", ""), "One \t two\nthree.\n \n\n  Four   five. ")]
    assert passages_make(blocks) == [Passage("Deep heading", "One two three.\n\nFour five.")]


def test_empty_blocks_give_no_passages() -> None:
    blocks = [Block(("A",), ""), Block(("A",), " \n\n \t"), Block(("B",), "\n")]
    assert passages_make(blocks) == []
    assert passages_make([]) == []


def test_the_same_blocks_always_give_the_same_passages() -> None:
    blocks = [*long_section(), Block(("Other",), "More text. " * 50)]
    assert passages_make(blocks, max_chars=250) == passages_make(list(blocks), max_chars=250)


def test_every_sentence_is_kept() -> None:
    passages = passages_make(long_section(), max_chars=150, overlap_chars=60)
    text = " ".join(p.text for p in passages)
    assert all(s in text for s in sentences(0, 30))


@pytest.mark.parametrize(("max_chars", "overlap_chars"), [(0, 0), (100, 100), (100, -1)])
def test_sizes_that_cannot_work_are_refused(max_chars: int, overlap_chars: int) -> None:
    with pytest.raises(ValueError, match="max_chars"):
        passages_make([Block((), "Text.")], max_chars=max_chars, overlap_chars=overlap_chars)
