"""Rate limits: what a refusal says, and who the HTTP views count.

Messages (and retries) are sent only over the socket; each one counts once for its owner
and once for its IP address at ``ORION_RATE_LIMIT``, a burst at a time
(``chat.services.admission``). The HTTP views' writes (new, rename and delete a
conversation) are counted by django-ratelimit's decorator on the group ``chat.write``,
per account or IP (``user_or_ip``), at the same rate.
"""

from __future__ import annotations


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
