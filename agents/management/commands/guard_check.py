"""``manage.py guard_check [FILE]``: the input guard's verdict on texts in bulk.

Reads JSON lines (each line one JSON string; standard input without FILE) and prints one
JSON line per text, in order: ``decision`` (allow, flag, block), ``score`` and the patterns
that matched, with staff's patterns from the admin included. A line may also be an object
with a ``text`` and labels of its own (``{"text": "...", "attack": true}``): the labels
are copied into its result, so a labelled set can be scored from the output. A line that
is neither gets ``{"error": ...}`` in its place; the command then exits with status 1.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.pipeline import guard_assess, staff_config


class Command(BaseCommand):
    help = "Print the input guard's decision and score for each JSON-string line of FILE."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="JSON lines (default: standard input)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["file"]:
            try:
                with open(options["file"], encoding="utf-8") as lines:
                    bad = self._check(lines)
            except OSError as exc:
                raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from exc
        else:
            bad = self._check(sys.stdin)
        if bad:
            raise CommandError(f"{bad} line(s) were not JSON strings", returncode=1)

    def _check(self, lines: TextIO) -> int:
        patterns = staff_config().guard_patterns
        bad = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                item = None
            labels: dict[str, Any] = {}
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                labels = {k: v for k, v in item.items() if k != "text"}
                item = item["text"]
            if not isinstance(item, str):
                bad += 1
                self.stdout.write(json.dumps({"line": number, "error": "not a JSON string"}))
                continue
            verdict = guard_assess(item, patterns)
            result = {**labels, "decision": verdict.decision, "score": verdict.score,
                      "matches": list(verdict.matches)}  # fmt: skip
            if verdict.reason:
                result["reason"] = verdict.reason
            self.stdout.write(json.dumps(result))
        return bad
