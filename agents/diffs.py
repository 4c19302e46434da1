"""What changed between two texts, as HTML: by line, and by word inside changed lines.

Removed text is inside ``del`` elements, added text inside ``ins``; unchanged runs of more
than a few lines are folded. Every piece of text is escaped (prompts are typed by staff
and may contain markup).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

CONTEXT_LINES = 3
# Word by word only while both sides of a changed block are this short: matching words
# costs up to the product of the two counts (a whole 20,000-character prompt rewritten
# took seconds), and a block that large reads as well line by line.
WORD_DIFF_MAX_TOKENS = 1000
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class TextDiff:
    html: SafeString
    added_lines: int
    removed_lines: int

    @property
    def changed(self) -> bool:
        return bool(self.added_lines or self.removed_lines)


def _words(old: str, new: str) -> str:
    """``old`` → ``new`` inline, word by word."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(escape("".join(a[i1:i2])))
            continue
        if i2 > i1:
            parts.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            parts.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return "".join(parts)


def _replaced(old: list[str], new: list[str]) -> list[str]:
    """Changed lines: the words that changed inside them, or whole lines when long."""
    before, after = "\n".join(old), "\n".join(new)
    if max(len(_TOKEN.findall(before)), len(_TOKEN.findall(after))) <= WORD_DIFF_MAX_TOKENS:
        return [_line("change", _words(before, after))]
    return [
        *(_line("del", f"<del>{escape(line)}</del>") for line in old),
        *(_line("ins", f"<ins>{escape(line)}</ins>") for line in new),
    ]


def _line(kind: str, html: str) -> str:
    return f'<div class="diff-line diff-{kind}">{html or "&nbsp;"}</div>'


def _equal(lines: list[str], first: bool, last: bool) -> list[str]:
    """Unchanged lines, the middle of a long run folded."""
    head = [] if first else lines[:CONTEXT_LINES]
    tail = [] if last else lines[-CONTEXT_LINES:]
    if len(lines) <= len(head) + len(tail) + 1:
        return [_line("same", escape(line)) for line in lines]
    folded = len(lines) - len(head) - len(tail)
    return [
        *(_line("same", escape(line)) for line in head),
        _line("fold", f"… {folded} unchanged line{'s' if folded != 1 else ''} …"),
        *(_line("same", escape(line)) for line in tail),
    ]


def text_diff(old: str, new: str) -> TextDiff:
    """The difference from ``old`` to ``new``."""
    a, b = old.splitlines(), new.splitlines()
    # (autojunk: in a long text, lines repeated everywhere, blank ones say, are not
    # matched one by one; without it 10,000 short lines took seconds.)
    opcodes = difflib.SequenceMatcher(None, a, b).get_opcodes()
    out: list[str] = []
    added = removed = 0
    for n, (op, i1, i2, j1, j2) in enumerate(opcodes):
        if op == "equal":
            out.extend(_equal(a[i1:i2], first=n == 0, last=n == len(opcodes) - 1))
        elif op == "delete":
            out.extend(_line("del", f"<del>{escape(line)}</del>") for line in a[i1:i2])
        elif op == "insert":
            out.extend(_line("ins", f"<ins>{escape(line)}</ins>") for line in b[j1:j2])
        else:  # replace: the words that changed, inside the lines
            out.extend(_replaced(a[i1:i2], b[j1:j2]))
        removed += i2 - i1 if op in ("delete", "replace") else 0
        added += j2 - j1 if op in ("insert", "replace") else 0
    if not (added or removed):
        html = format_html('<p class="diff-none">{}</p>', "No changes.")
    else:
        html = mark_safe(f'<div class="text-diff">{"".join(out)}</div>')  # noqa: S308 (escaped above)
    return TextDiff(html, added, removed)
