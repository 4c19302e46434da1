"""Providers in the admin: the row, whether its key is in the environment, how the provider
has been doing (breaker, last failed call, failures in the last hour) and a test request
on demand, from the list (an action) or from its page (a button).

The live state is read once per page of the list (``ProviderChangeList``), not per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from agents.models import Provider
from agents.provider_checks import (
    ProviderHealth,
    failure_words,
    provider_key_status,
    providers_health,
    providers_test,
)

HEALTH_ATTRIBUTE = "live_health"  # where each row of a listed page carries its health


class ProviderForm(forms.ModelForm):
    """What the model's fields leave open: an endpoint on the web, no negative prices,
    timeouts that can pass."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        url = cleaned.get("base_url")
        if url and not url.lower().startswith(("http://", "https://")):
            self.add_error("base_url", "Use an http:// or https:// address.")
        for name in ("price_in_per_1k", "price_out_per_1k"):
            price = cleaned.get(name)
            if price is not None and price < Decimal(0):
                self.add_error(name, "A price cannot be negative.")
        for name in ("timeout", "connect_timeout"):
            seconds = cleaned.get(name)
            if seconds is not None and seconds <= 0:
                self.add_error(name, "Give a number of seconds above zero.")
        return cleaned


class ProviderChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        health = providers_health(row.name for row in rows)
        for row in rows:
            setattr(row, HEALTH_ATTRIBUTE, health[row.name])


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["name", "model", "priority", "enabled", "price_in_per_1k", "price_out_per_1k",
                    "key", "breaker", "last_error", "failures_last_hour"]  # fmt: skip
    list_editable = ["priority", "enabled"]
    actions = ["test_connection"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    class Media:
        css = {"all": ["agents/admin-tools.css"]}

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ProviderChangeList

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(require_POST(self.test_connection_view))
        return [
            path("<path:object_id>/test-connection/", view,
                 name="agents_provider_test_connection"),
            *super().get_urls(),
        ]  # fmt: skip

    @admin.display(description="Key")
    def key(self, obj: Provider) -> str:
        return provider_key_status(obj)

    @admin.display(description="Breaker")
    def breaker(self, obj: Provider) -> str:
        return _health(obj).breaker_words

    @admin.display(description="Last error")
    def last_error(self, obj: Provider) -> str | None:
        health = _health(obj)
        if not health.last_error:
            return None
        words = failure_words(health.last_error)
        at = health.last_error_at
        if at is None:
            return words
        if timezone.now() - at < timedelta(minutes=1):
            return f"{words} (just now)"
        return f"{words} ({timesince(at)} ago)"

    @admin.display(description="Failures, last hour")
    def failures_last_hour(self, obj: Provider) -> int:
        return _health(obj).failures_last_hour

    @admin.action(description="Test the connection (one short request each)",
                  permissions=["change"])  # fmt: skip
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        self._test(request, queryset)

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change page's button: test this provider, then back to its page."""
        row = self.get_object(request, unquote(object_id))
        if row is None:
            raise Http404("No such provider.")
        if not self.has_change_permission(request, row):
            raise PermissionDenied
        self._test(request, [row])
        return HttpResponseRedirect(reverse("admin:agents_provider_change", args=[row.pk]))

    def _test(self, request: HttpRequest, rows: Iterable[Provider]) -> None:
        rows = list(rows)
        for row, check in zip(rows, providers_test(rows), strict=True):
            level = messages.SUCCESS if check.ok else messages.ERROR
            summary = check.summary
            if "missing" in (key := provider_key_status(row)):
                summary += f" (sent without a key: {key})"
                level = messages.WARNING if check.ok else level
            self.message_user(request, summary, level)
            self.log_change(request, row, f"Tested the connection: {summary}")


def _health(row: Provider) -> ProviderHealth:
    """A listed row's health, read with its page's; any other row's, read now."""
    health: ProviderHealth | None = getattr(row, HEALTH_ATTRIBUTE, None)
    return health if health is not None else providers_health([row.name])[row.name]
