"""Pages for everyone who chats: a knowledge-base document opened from a source link."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents.knowledge.reading import DocumentHidden, document_for_reader
from agents.models import Document, audience_levels


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 12 else None


@require_GET
def document_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    audiences = audience_levels(signed_in=user.is_authenticated, staff=user.is_staff)
    try:
        shown = document_for_reader(
            pk=pk,
            audiences=audiences,
            page=_number(request.GET.get("page")),
            passage=_number(request.GET.get("passage")),
        )
    except Document.DoesNotExist:
        raise Http404("No such document") from None
    except DocumentHidden as hidden:
        if hidden.sign_in_helps:
            return redirect_to_login(request.get_full_path())
        raise Http404("No such document") from None
    return render(request, "knowledge/document.html", {"shown": shown})
