from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails
from django_ratelimit.decorators import ratelimit

from chat.live.generation import reply_stop
from chat.owners import owner_from_request, owner_if_known
from chat.ratelimits import wait_words, write_ratelimit_kwargs, write_retry_after
from chat.selectors import conversation_get_for_owner, conversation_list, message_list
from chat.services import conversation_create, conversation_delete, conversation_rename
from chat.validation import InputError


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _go(request: HtmxHttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else HttpResponseRedirect(url)


@require_GET
def index(request: HtmxHttpRequest) -> HttpResponse:
    owner = owner_if_known(request)
    conversations = conversation_list(owner=owner) if owner is not None else []
    return render(request, "chat/index.html", {"conversations": conversations})


@require_POST
@ratelimit(method="POST", **write_ratelimit_kwargs())  # type: ignore[arg-type]
def conversation_new(request: HtmxHttpRequest) -> HttpResponse:
    conversation = conversation_create(owner=owner_from_request(request))
    return _go(request, reverse("chat:conversation", args=[conversation.pk]))


@require_GET
def conversation_detail(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    owner = owner_if_known(request)
    if owner is None:
        raise Http404("No such conversation")
    conversation = conversation_get_for_owner(owner=owner, pk=pk)
    context = {
        "conversation": conversation,
        "conversations": conversation_list(owner=owner),
        "messages": message_list(conversation=conversation),
    }
    return render(request, "chat/conversation.html", context)


@require_POST
@ratelimit(method="POST", **write_ratelimit_kwargs())  # type: ignore[arg-type]
def conversation_rename_view(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    owner = owner_if_known(request)  # (a stranger's 404 leaves no session behind)
    if owner is None:
        raise Http404("No such conversation")
    conversation = conversation_get_for_owner(owner=owner, pk=pk)
    typed = request.POST.get("title", "")
    try:
        conversation_rename(conversation=conversation, title=typed)
    except InputError as exc:
        # Refused: say why where the title was typed, and keep what was typed.
        conversation.refresh_from_db(fields=["title"])
        context = {"conversation": conversation, "rename_error": exc.message, "typed": typed}
        if request.htmx:
            return render(request, "chat/conversation.html#title", context, status=422)
        context |= {
            "conversations": conversation_list(owner=owner),
            "messages": message_list(conversation=conversation),
        }
        return render(request, "chat/conversation.html", context, status=422)
    if request.htmx:  # the heading, the sidebar entry and the window title
        return render(request, "chat/renamed.html", {"conversation": conversation})
    return redirect("chat:conversation", pk=conversation.pk)


@require_POST
@ratelimit(method="POST", **write_ratelimit_kwargs())  # type: ignore[arg-type]
def conversation_delete_view(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    conversation = conversation_get_for_owner(owner=owner_if_known(request), pk=pk)
    conversation_delete(conversation=conversation)
    # A reply in progress stops (its model request closed).
    async_to_sync(reply_stop)(conversation_id=str(conversation.pk), reason="interrupted")
    return _go(request, reverse("chat:index"))


def rate_limited(request: HtmxHttpRequest, exception: Exception) -> HttpResponse:
    retry_after = write_retry_after(request)
    context = {"wait": wait_words(retry_after)}
    if request.htmx:  # said in the page; nothing else changes
        response = render(request, "chat/rate_limited.html#notice", context, status=429)
        response["HX-Reswap"] = "none"
    else:
        response = render(request, "chat/rate_limited.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response
