"""Message rate limits on the WebSocket, counted by django-ratelimit.

Messages (and retries) are sent only over the socket. Each one counts once for its owner
and once for its IP address in the group ``chat.send``, at ``ORION_RATE_LIMIT``, in the
same cache as the HTTP views' limits. The HTTP views' writes (new, rename and delete a
conversation) have their own counters: django-ratelimit's decorator on the group
``chat.write``, per account or IP (``user_or_ip``), at the same rate.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from chat.owners import Owner

SEND_GROUP = "chat.send"


class RateLimited(Exception):  # noqa: N818  (reads better at the call sites)
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        seconds = max(1, self.retry_after)
        if seconds >= 90:
            when = f"{round(seconds / 60)} minutes"
        else:
            when = f"{seconds} second" + ("" if seconds == 1 else "s")
        return f"You are sending messages too fast. Try again in {when}."


def owner_key(group: str, request: HttpRequest) -> str:
    """django-ratelimit key: the conversation owner (account or visitor)."""
    owner: Owner = request.orion_owner  # type: ignore[attr-defined]
    return owner.key


def _request_for(owner: Owner, ip: str) -> HttpRequest:
    # django-ratelimit keys read a request; a socket has none, so lend it a minimal one.
    request = HttpRequest()
    request.method = "POST"
    request.META["REMOTE_ADDR"] = ip or "0.0.0.0"  # noqa: S104
    request.orion_owner = owner  # type: ignore[attr-defined]
    return request


def check_send_rate(*, owner: Owner, ip: str) -> None:
    """Count one message for ``owner`` and ``ip``; raise ``RateLimited`` past the limit."""
    request = _request_for(owner, ip)
    for key in ("chat.ratelimits.owner_key", "ip"):
        usage = get_usage(
            request, group=SEND_GROUP, key=key, rate=settings.ORION_RATE_LIMIT, increment=True
        )
        if usage is not None and usage["should_limit"]:
            raise RateLimited(retry_after=int(usage["time_left"]))
