"""The agents' records and what staff steer them with.

- ``Prompt`` / ``PromptVersion`` / ``PromptEvent``: the texts the pipeline sends, each
  version kept with its state (draft, in review, published, retired) and every step of
  its review; exactly one published version and at most one open draft per prompt.
- ``Provider``: an OpenAI-compatible endpoint in the fallback chain. The key is never
  stored, only the name of the environment variable that holds it.
- ``Rule``: a question pattern answered from a template, without a model.
- ``GuardPattern``: a scored prompt-injection pattern added by staff to the shipped ones.
- ``CachedAnswer``: the database tier of the answer cache.
- ``Run`` / ``Step``: what answered a reply and how, stage by stage: the one source for
  analytics. Written with the reply's final update, never a write per stage.
"""

from __future__ import annotations

import re
import string

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


def validate_key_variable(name: str) -> None:
    """A provider's key comes from an environment variable whose name ends in ``_API_KEY``:
    staff cannot have Orion send another secret (its own, the database's) to a URL."""
    if name and not re.fullmatch(r"[A-Z][A-Z0-9_]*_API_KEY", name):
        raise ValidationError(
            "Name an environment variable ending in _API_KEY, such as OPENAI_API_KEY."
        )


def validate_regex(pattern: str) -> None:
    """Staff type regular expressions in the admin: a broken one is a form error."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValidationError(f"Not a valid regular expression: {exc}.") from exc


class Prompt(models.Model):
    key = models.SlugField(max_length=64, unique=True, help_text="e.g. chat.system")
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["key"]
        permissions = [("publish_prompt", "Can publish and roll back prompt versions")]

    def __str__(self) -> str:
        return self.key


class PromptVersion(models.Model):
    """One text of a prompt. A draft is edited until it is submitted or published; from
    then on the text never changes (replies recorded which text they used)."""

    class State(models.TextChoices):
        DRAFT = "draft", "draft"
        REVIEW = "review", "in review"
        PUBLISHED = "published", "published"
        RETIRED = "retired", "retired"

    OPEN_STATES = (State.DRAFT, State.REVIEW)

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    note = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)

    class Meta:
        ordering = ["prompt", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="prompt_version_number"),
            models.UniqueConstraint(
                fields=["prompt"], condition=Q(state="published"), name="prompt_one_published"
            ),
            models.UniqueConstraint(
                fields=["prompt"], condition=Q(state__in=["draft", "review"]),
                name="prompt_one_open_draft",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """How runs and messages name it: ``chat.system v3``."""
        return f"{self.prompt.key} v{self.number}"

    @property
    def published(self) -> bool:
        return self.state == self.State.PUBLISHED


class PromptEvent(models.Model):
    """One step of a version's life: saved, submitted, sent back, published, rolled back,
    retired; who did it, when, and what they said."""

    class Action(models.TextChoices):
        SAVED = "saved", "saved"
        SUBMITTED = "submitted", "submitted for review"
        SENT_BACK = "sent_back", "sent back"
        PUBLISHED = "published", "published"
        ROLLED_BACK = "rolled_back", "published again (roll back)"
        RETIRED = "retired", "retired"

    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["version", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.version_id} {self.action}"


class Provider(models.Model):
    """A model endpoint in the fallback chain: lower ``priority`` is tried first."""

    name = models.SlugField(max_length=64, unique=True)
    base_url = models.URLField(max_length=300, help_text="e.g. https://api.openai.com/v1")
    model = models.CharField(max_length=128)
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_key_variable],
        help_text="Name of the environment variable holding the key (never the key itself), "
        "ending in _API_KEY.",
    )
    price_in_per_1k = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    price_out_per_1k = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    priority = models.PositiveIntegerField(default=100)
    enabled = models.BooleanField(default=True)
    timeout = models.FloatField(default=60.0, help_text="Seconds of silence before giving up.")
    connect_timeout = models.FloatField(default=5.0)
    max_retries = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name


class Rule(models.Model):
    """A question answered without a model: the first enabled rule whose pattern matches."""

    name = models.CharField(max_length=100, unique=True)
    pattern = models.CharField(
        max_length=500,
        validators=[validate_regex],
        help_text="A regular expression, matched case-insensitively.",
    )
    answer = models.TextField(
        help_text="Markdown. May use {question} and the pattern's named groups."
    )
    enabled = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name

    def _placeholders(self) -> list[str]:
        return [n for _, n, _, _ in string.Formatter().parse(self.answer) if n is not None]

    def clean(self) -> None:
        """The answer may name only ``{question}`` and the pattern's named groups."""
        try:
            groups = set(re.compile(self.pattern).groupindex)
        except re.error:
            return  # the pattern's own error is shown
        try:
            used = {
                name.split(".")[0].split("[")[0]
                for _, name, _, _ in string.Formatter().parse(self.answer)
                if name is not None
            }
        except ValueError as exc:
            raise ValidationError({"answer": f"Unbalanced braces: {exc}."}) from exc
        if any(not name.isidentifier() for name in self._placeholders()):
            raise ValidationError(
                {"answer": "Placeholders are plain names, such as {question} or {city}."}
            )
        unknown = sorted(used - groups - {"question"})
        if unknown:
            raise ValidationError(
                {"answer": "Unknown placeholder(s): " + ", ".join(f"{{{n}}}" for n in unknown)
                 + ". Use {question} or a named group of the pattern, such as (?P<city>...)."}
            )  # fmt: skip


class GuardPattern(models.Model):
    """A prompt-injection pattern added to the shipped ones; scores add up."""

    name = models.CharField(max_length=100, unique=True)
    pattern = models.CharField(
        max_length=500,
        validators=[validate_regex],
        help_text="A regular expression, matched case-insensitively.",
    )
    score = models.FloatField(default=1.0, help_text="Added to the message's score on a match.")
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CachedAnswer(models.Model):
    """A complete model answer to a context-free question (the cache's database tier)."""

    key = models.CharField(max_length=64, unique=True)
    # The question alone (normalised, hashed): when every model fails, an answer to the
    # same question under another prompt or model is better than none.
    question_key = models.CharField(max_length=64, db_index=True)
    question = models.TextField()
    answer = models.TextField()
    prompt_version = models.CharField(max_length=80, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=128, blank=True)
    tokens_in = models.PositiveIntegerField(null=True, blank=True)
    tokens_out = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.question[:60]


class Run(models.Model):
    """One reply (or preview, or slow job) and what answered it."""

    class Kind(models.TextChoices):
        REPLY = "reply"
        PREVIEW = "preview"
        JOB = "job"

    class AnsweredBy(models.TextChoices):
        MODEL = "model"
        CACHE = "cache"
        RULE = "rule"
        GUARD = "guard"
        KNOWLEDGE = "knowledge"
        STATIC = "static"
        OFFLINE = "offline"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.REPLY)
    # Kept when the conversation is deleted: what replies cost stays countable. A reply
    # answered again (Retry) has a run per attempt.
    message = models.ForeignKey(
        "chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    answered_by = models.CharField(max_length=16, choices=AnsweredBy.choices, blank=True)
    cache_tier = models.CharField(max_length=16, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=128, blank=True)
    prompt_version = models.ForeignKey(
        PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    cost_estimated = models.BooleanField(default=False)
    started_at = models.DateTimeField(db_index=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=16)  # the message's status, or "complete"
    error_code = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.answered_by or self.outcome})"


class Step(models.Model):
    """One stage of a run, in order."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=32)
    start_ms = models.FloatField()  # from the run's start
    duration_ms = models.FloatField()
    outcome = models.CharField(max_length=16)
    detail = models.JSONField(default=dict, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="step_position"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.outcome}"
