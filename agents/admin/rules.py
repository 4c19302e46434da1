"""Rules and guard patterns in the admin, each list with a "Try a sentence" box.

The box asks the pipeline's own code with staff's saved configuration: for rules, which
enabled rule answers first and with what (``rule_first_match``); for guard patterns, the
guard's score and decision and the patterns that matched, shipped and staff's
(``guard_assess``). It is a GET form: trying changes nothing.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from agents.models import GuardPattern, Rule
from agents.pipeline import guard_assess, staff_config
from agents.pipeline.guard_patterns import BLOCK_AT, FLAG_AT
from agents.pipeline.route import rule_first_match

SENTENCE = "sentence"  # the query parameter, kept out of the list's own filters
SENTENCE_MAX_CHARS = 4000
GUARD_REASONS = {
    "empty": "An empty message is refused before any pattern is tried.",
    "too_long": "Longer than a message may be: refused before any pattern is tried.",
}


class TrySentenceForm(forms.Form):
    sentence = forms.CharField(
        label="Sentence",
        max_length=SENTENCE_MAX_CHARS,
        error_messages={
            "required": "Type a sentence to try.",
            "max_length": "Try at most %(limit_value)d characters (this one has %(show_value)d).",
        },
        widget=forms.TextInput(attrs={"placeholder": "What a person might ask"}),
    )


def sentence_tried(request: HttpRequest) -> TrySentenceForm:
    """The box, bound when the page was asked with a sentence. The sentence is taken out
    of the request's query, where the list would read it as a filter."""
    if SENTENCE not in request.GET:
        return TrySentenceForm()
    query = request.GET.copy()
    sentence = query.pop(SENTENCE)[-1]
    request.GET = query  # type: ignore[assignment]  # (the stubs' type is immutable)
    return TrySentenceForm({SENTENCE: sentence})


class TrySentenceAdmin(admin.ModelAdmin):
    """A list with the box and, for a valid sentence, ``try_context(sentence)``."""

    class Media:
        css = {"all": ["agents/admin-tools.css"]}

    def try_context(self, sentence: str) -> dict[str, Any]:
        raise NotImplementedError

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        form = sentence_tried(request)
        context = {**(extra_context or {}), "try_form": form, "tried": False}
        if form.is_bound and form.is_valid():
            context.update(tried=True, **self.try_context(form.cleaned_data[SENTENCE]))
        return super().changelist_view(request, context)


@admin.register(Rule)
class RuleAdmin(TrySentenceAdmin):
    list_display = ["name", "pattern", "priority", "enabled"]
    list_editable = ["priority", "enabled"]
    search_fields = ["name", "pattern", "answer"]

    def try_context(self, sentence: str) -> dict[str, Any]:
        found = rule_first_match(staff_config().rules, sentence)
        rule, answer = found if found is not None else (None, "")
        return {"try_rule": rule, "try_answer": answer}


@admin.register(GuardPattern)
class GuardPatternAdmin(TrySentenceAdmin):
    list_display = ["name", "pattern", "score", "enabled", "note"]
    list_editable = ["score", "enabled"]
    search_fields = ["name", "pattern", "note"]

    def try_context(self, sentence: str) -> dict[str, Any]:
        patterns = staff_config().guard_patterns
        verdict = guard_assess(sentence, patterns)
        staff = {pattern.name for pattern in patterns}
        return {
            "try_verdict": verdict,
            "try_matches": [(n, "staff" if n in staff else "shipped") for n in verdict.matches],
            "try_reason": GUARD_REASONS.get(verdict.reason, verdict.reason),
            "try_hidden": list(dict.fromkeys(verdict.hidden)),
            "flag_at": FLAG_AT,
            "block_at": BLOCK_AT,
        }
