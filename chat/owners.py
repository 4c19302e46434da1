"""Who owns a conversation: a user account, or a visitor identified by their session."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from agents.pipeline import audience_levels

ANON_SESSION_KEY = "orion_anon"


@dataclass(frozen=True, slots=True)
class Owner:
    """Exactly one of ``user_id`` and ``anon_id`` is set."""

    user_id: int | None = None
    anon_id: str | None = None
    staff: bool = field(default=False, compare=False)  # what the knowledge base shows them

    @property
    def key(self) -> str:
        """A stable string for rate-limit and cache keys."""
        return f"user:{self.user_id}" if self.user_id is not None else f"anon:{self.anon_id}"

    @property
    def audiences(self) -> tuple[str, ...]:
        """Whose knowledge-base documents answers to this owner may draw on."""
        return audience_levels(signed_in=self.user_id is not None, staff=self.staff)


def owner_from_request(request: HttpRequest) -> Owner:
    """The request's owner; for visitors an anonymous id is made (and stored) on first use."""
    owner = owner_if_known(request)
    if owner is None:
        owner = Owner(anon_id=secrets.token_urlsafe(24))
        request.session[ANON_SESSION_KEY] = owner.anon_id
    return owner


def owner_if_known(request: HttpRequest) -> Owner | None:
    """The request's owner if it has one already; None for a visitor who has created
    nothing (so a bare page view stores no session)."""
    if request.user.is_authenticated:
        return Owner(user_id=request.user.pk, staff=request.user.is_staff)
    anon_id = request.session.get(ANON_SESSION_KEY)
    return Owner(anon_id=anon_id) if anon_id else None


def owner_from_scope(scope: dict[str, Any]) -> Owner | None:
    """The WebSocket scope's owner, or None for a socket without a usable session.

    Blocking (it may load the session): call it through ``database_sync_to_async``.
    """
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return Owner(user_id=user.pk, staff=user.is_staff)
    session = scope.get("session")
    if session is None:
        return None
    anon_id = session.get(ANON_SESSION_KEY)
    return Owner(anon_id=anon_id) if anon_id else None
