"""Rate limits: what a refusal says, and who the HTTP views count.

Messages (and retries) are sent only over the socket; each one counts once for its owner
and once for its IP address at ``ORION_RATE_LIMIT``, a burst at a time
(``chat.services.admission``). The HTTP views' writes (new, rename and delete a
conversation) are counted by django-ratelimit's decorator on the group ``chat.write``,
per account or IP (``user_or_ip``), at the same rate.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

WRITE_GROUP = "chat.write"
WRITE_KEY = "user_or_ip"


def _write_rate(group: str, request: HttpRequest) -> str:
    return settings.ORION_RATE_LIMIT


def write_ratelimit_kwargs() -> dict[str, object]:
    """The django-ratelimit arguments of every HTTP write (decorator and look-up alike)."""
    return {"group": WRITE_GROUP, "key": WRITE_KEY, "rate": _write_rate}


def wait_words(seconds: int) -> str:
    """``seconds`` as a person reads it: "1 second", "47 seconds", "3 minutes"."""
    seconds = max(1, seconds)
    if seconds >= 90:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds} second" + ("" if seconds == 1 else "s")


def write_retry_after(request: HttpRequest) -> int:
    """Seconds until this person's HTTP writes are counted afresh (at least 1)."""
    usage = get_usage(request, increment=False, **write_ratelimit_kwargs())  # type: ignore[arg-type]
    return max(1, int(usage["time_left"])) if usage else 60


class RateLimited(Exception):  # noqa: N818  (reads better at the call sites)
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        return f"You are sending messages too fast. Try again in {wait_words(self.retry_after)}."
