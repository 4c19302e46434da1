"""Signing in: the brake on guessed passwords (django-axes), set up in settings.

After ``AXES_FAILURE_LIMIT`` failed sign-ins for one account, or from one address, further
tries (even the right password) are refused for ``AXES_COOLOFF_TIME`` with a page that says
so and when to come back. This applies to ``/login/`` and to the admin's sign-in alike.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from chat.ratelimits import wait_words


def client_ip(request: HttpRequest) -> str:
    """The address a sign-in comes from: the connection's, which the server has already
    taken from ``X-Forwarded-For`` when (and only when) a trusted proxy sent it."""
    return str(request.META.get("REMOTE_ADDR", ""))


def locked_out(request: HttpRequest, credentials: Any, *args: Any, **kwargs: Any) -> HttpResponse:
    """The answer to a sign-in while locked out: 429, with when to try again."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request, "registration/locked_out.html", {"wait": wait_words(seconds)}, status=429
    )
    response["Retry-After"] = str(seconds)
    return response
