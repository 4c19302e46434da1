from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from chat.owners import ANON_SESSION_KEY
from chat.services import conversations_claim


@receiver(user_logged_in)
def claim_visitor_conversations(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    """A visitor who logs in keeps the conversations they started before logging in."""
    if request is None or not hasattr(request, "session"):
        return
    anon_id = request.session.get(ANON_SESSION_KEY)
    if anon_id:
        conversations_claim(anon_id=anon_id, user_id=user.pk)
