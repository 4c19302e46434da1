"""The prompt page's extra views: the streamed preview, roll back, and the diff between
any two versions. Each parses, checks the permission, calls one function, responds."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from agents.diffs import text_diff
from agents.models import Prompt, PromptVersion
from agents.previews import preview_lines, preview_prepare, preview_question_clean
from agents.prompting import PromptStateError, prompt_version_rollback, prompt_versions_compare

View = Callable[..., HttpResponseBase]
# The prompts' admin, which routes these views (a string: not subscriptable at run time).
PromptModelAdmin: TypeAlias = "admin.ModelAdmin[Prompt]"


def _prompt(model_admin: PromptModelAdmin, request: HttpRequest, prompt_id: int, *,
            change: bool) -> Prompt:  # fmt: skip
    prompt = get_object_or_404(Prompt, pk=prompt_id)
    allowed = (model_admin.has_change_permission if change
               else model_admin.has_view_or_change_permission)(request, prompt)  # fmt: skip
    if not allowed:
        raise PermissionDenied
    return prompt


def preview_stream_view(model_admin: PromptModelAdmin) -> View:
    @require_POST
    def view(request: HttpRequest, prompt_id: int, version_id: int) -> HttpResponseBase:
        prompt = _prompt(model_admin, request, prompt_id, change=True)
        version = get_object_or_404(PromptVersion.objects.select_related("prompt"),
                                    pk=version_id, prompt=prompt)  # fmt: skip
        try:
            question = preview_question_clean(request.POST.get("question", ""))
        except ValidationError as exc:
            return JsonResponse({"error": " ".join(exc.messages)}, status=400)
        context = preview_prepare(version=version, question=question)
        model_admin.log_change(request, prompt, f"Previewed {version.label}: “{question[:80]}”")
        response = StreamingHttpResponse(preview_lines(context),
                                         content_type="application/x-ndjson")  # fmt: skip
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"  # a proxy in front must not hold the stream
        return response

    return view


def rollback_view(model_admin: PromptModelAdmin) -> View:
    @require_POST
    def view(request: HttpRequest, prompt_id: int) -> HttpResponse:
        prompt = _prompt(model_admin, request, prompt_id, change=True)
        try:
            version_id = int(request.POST.get("version", ""))
        except ValueError:
            return HttpResponseBadRequest("Choose the version to roll back to.")
        version = get_object_or_404(PromptVersion, pk=version_id, prompt=prompt)
        try:
            version, replaced = prompt_version_rollback(version=version, user=request.user)
        except PromptStateError as exc:
            model_admin.message_user(request, str(exc), messages.ERROR)
        else:
            was = f" (was v{replaced.number})" if replaced else ""
            message = f"Rolled back to {version.label}{was}."
            model_admin.log_change(request, prompt, message)
            model_admin.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:agents_prompt_change", args=[prompt.pk]))

    return view


def diff_view(model_admin: PromptModelAdmin) -> View:
    @require_GET
    def view(request: HttpRequest, prompt_id: int) -> HttpResponse:
        prompt = _prompt(model_admin, request, prompt_id, change=False)
        versions, old, new = prompt_versions_compare(
            prompt=prompt, old_id=request.GET.get("old", ""), new_id=request.GET.get("new", "")
        )
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": Prompt._meta,
            "original": prompt,
            "title": f"Compare versions of {prompt.key}",
            "versions": versions,
            "old": old,
            "new": new,
            "diff": text_diff(old.text, new.text) if old and new else None,
        }
        return TemplateResponse(request, "admin/agents/prompt/diff.html", context)

    return view
