"""The simulator's prose: English-looking sentences on the question's topic, and the
markdown shapes a question asks for.

Everything here is a pure function of a seeded ``random.Random`` and the question, so a
reply is a function of the conversation alone. Words are yielded one by one, each a token
as the simulator streams it (the first without its leading space).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

# A tiny grammar (determiner, adjective, noun, past-tense verb) reads far more like English
# than random words do, and past tense sidesteps subject-verb agreement entirely.
_DETERMINERS = ("the", "the", "the", "a", "a", "this", "that", "every", "one")
_ADJECTIVES = (
    "quiet", "bright", "careful", "small", "ancient", "steady", "curious", "gentle", "modern",
    "simple", "clever", "patient", "distant", "hidden", "early", "narrow", "silver", "warm",
    "open", "rapid", "calm", "solid", "vivid", "humble", "eager", "golden", "shared", "final",
    "elegant", "old", "busy", "tiny", "strange", "familiar", "careful", "northern", "wooden",
)  # fmt: skip
_NOUNS = (
    "engine", "river", "garden", "library", "teacher", "message", "signal", "window", "bridge",
    "market", "lantern", "village", "network", "server", "painter", "student", "harbor",
    "mountain", "letter", "kitchen", "journal", "planet", "engineer", "answer", "question",
    "pattern", "system", "model", "archive", "orchard", "island", "puzzle", "record", "theory",
    "forest", "machine", "report", "compass", "traveler", "melody", "storm", "castle", "map",
    "recipe", "notebook", "city", "experiment", "idea", "team", "story", "workshop", "station",
)  # fmt: skip
_VERBS = (
    "found", "built", "carried", "watched", "opened", "shared", "followed", "described",
    "repaired", "measured", "explored", "noticed", "painted", "answered", "collected",
    "improved", "checked", "planned", "remembered", "organized", "studied", "delivered",
    "tested", "balanced", "gathered", "crossed", "visited", "traced", "welcomed", "guided",
    "questioned", "rebuilt", "sketched", "explained", "protected", "discovered",
)  # fmt: skip
_PREPOSITIONS = (
    "near", "beyond", "behind", "under", "across", "inside", "along", "around", "beside", "with",
)  # fmt: skip
_CONJUNCTIONS = ("and", "but", "so", "while", "because")
_OPENERS = (
    ("Meanwhile",), ("Later",), ("Afterwards",), ("In", "the", "end"), ("By", "morning"),
    ("Of", "course"), ("Still",), ("Eventually",), ("For", "a", "while"), ("In", "practice"),
)  # fmt: skip


_TOPIC_WORD_RE = re.compile(r"[A-Za-z][A-Za-z\-]{3,}")
_TOPIC_SKIP = frozenset((
    "about", "also", "could", "does", "from", "have", "into", "just", "like", "make", "more",
    "most", "much", "need", "only", "over", "please", "should", "some", "tell", "than", "that",
    "them", "then", "there", "these", "they", "this", "what", "when", "where", "which", "while",
    "with", "would", "your", "write", "explain", "give", "show", "list", "table", "code",
    "example", "examples", "using", "want",
))  # fmt: skip
# A question mentioning one of these gets a fenced code block in that language.
_LANGUAGES = ("python", "javascript", "typescript", "sql", "bash", "rust", "java", "html",
              "css", "json", "yaml")  # fmt: skip
_TOPIC_SHARE = 0.35  # of noun slots filled with a word of the question


def topic_words(question: str) -> tuple[str, ...]:
    """The question's content words, lower-cased, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _TOPIC_WORD_RE.findall(question):
        lowered = word.lower()
        if lowered not in _TOPIC_SKIP and lowered not in _LANGUAGES:
            seen.setdefault(lowered, None)
    return tuple(seen)[:8]


class Prose:
    """Sentences from a tiny grammar (determiner, adjective, noun, past-tense verb): far
    more like English than random words, and past tense sidesteps agreement."""

    def __init__(self, rng: random.Random, topic: tuple[str, ...] = ()) -> None:
        self.rng = rng
        self.topic = topic

    def noun_phrase(self) -> list[str]:
        rng = self.rng
        words = [rng.choice(_DETERMINERS)]
        if rng.random() < 0.55:
            words.append(rng.choice(_ADJECTIVES))
        if self.topic and rng.random() < _TOPIC_SHARE:
            words.append(rng.choice(self.topic))
        else:
            words.append(rng.choice(_NOUNS))
        if words[0] == "a" and words[1][0] in "aeiou":
            words[0] = "an"
        return words

    def clause(self) -> list[str]:
        words = self.noun_phrase() + [self.rng.choice(_VERBS)] + self.noun_phrase()
        if self.rng.random() < 0.35:
            words += [self.rng.choice(_PREPOSITIONS), *self.noun_phrase()]
        return words

    def sentence(self) -> list[str]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.2:
            opener = list(rng.choice(_OPENERS))
            opener[-1] += ","
            words = opener + self.clause()
        elif roll < 0.45:
            first = self.clause()
            first[-1] += ","
            words = first + [rng.choice(_CONJUNCTIONS)] + self.clause()
        else:
            words = self.clause()
        words[0] = words[0][0].upper() + words[0][1:]
        words[-1] += "!" if rng.random() < 0.06 else "."
        return words


def reply_words(rng: random.Random, question: str) -> Iterator[str]:
    """The words of a reply to ``question``, endlessly (the caller cuts them): a list, a
    table or a code block first when the question asks for one, then paragraphs."""
    prose = Prose(rng, topic_words(question))
    asked = question.lower()
    language = next((lang for lang in _LANGUAGES if re.search(rf"\b{lang}\b", asked)), None)
    if re.search(r"\b(?:list|bullet|steps)\b", asked):
        yield from _listed(prose)
    elif re.search(r"\btable\b", asked):
        yield from _table(prose)
    elif language or re.search(r"\b(?:code|function|snippet)\b", asked):
        yield from _code(prose, language or "python")
    paragraph = False
    while True:
        words = prose.sentence()
        if paragraph:
            words[0] = "\n\n" + words[0]
        yield from words
        paragraph = rng.random() < 0.2


def _listed(prose: Prose) -> Iterator[str]:
    yield from prose.sentence()
    for _ in range(3 + int(prose.rng.random() * 3)):
        yield "\n-"
        yield from prose.sentence()
    yield "\n\n"


def _table(prose: Prose) -> Iterator[str]:
    yield from prose.sentence()
    yield "\n\n|"
    yield from ("Item", "|", "Note", "|\n|", "---", "|", "---", "|")
    for _ in range(3):
        noun = prose.noun_phrase()[-1]
        yield "\n|"
        yield noun
        yield "|"
        yield from prose.clause()
        yield "|"
    yield "\n\n"


def _code(prose: Prose, language: str) -> Iterator[str]:
    yield from prose.sentence()
    name = "_".join(prose.noun_phrase()[-2:]).replace("-", "_")
    yield f"\n\n```{language}\n"
    if language == "python":
        yield from (f"def {name}():", "\n   ", "return", f'"{prose.clause()[-1]}"')
    elif language in ("javascript", "typescript"):
        yield from (f"function {name}()", "{\n ", "return", f'"{prose.clause()[-1]}";', "\n}")
    elif language == "sql":
        yield from ("SELECT", name, "FROM", f"{prose.noun_phrase()[-1]}s;")
    else:
        yield from (f"# {name}", "\n", prose.clause()[-1])
    yield "\n```\n\n"
