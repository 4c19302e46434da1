"""What staff configure besides prompts: providers, rules and guard patterns."""

from __future__ import annotations

import re
import string

from django.core.exceptions import ValidationError
from django.db import models


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


class ToolSetting(models.Model):
    """Whether staff let the model call one of the registered tools (``agents.tools``).
    A row exists for each registered tool (made when the database is migrated)."""

    name = models.SlugField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "tool"

    def __str__(self) -> str:
        return self.name
