"""The current_datetime tool: the model has no clock, and guesses today from its training.

The server's own time zone (``TIME_ZONE``) unless the model names another. Day names are
English whatever the server's locale, since the model reads them, not a person.
"""

from __future__ import annotations

import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.utils import timezone

from agents.tools.types import Tool, ToolContext, ToolFailure

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def now_in(zone_name: str | None = None) -> str:
    """The time now in ``zone_name`` (an IANA name; ``TIME_ZONE`` when empty), as
    "2026-12-07 14:03 (Monday), Europe/Paris, UTC+01:00" and ISO 8601 on a second line."""
    zone = zone_find(zone_name or settings.TIME_ZONE)
    now = timezone.now().astimezone(zone)
    return (
        f"{now:%Y-%m-%d %H:%M} ({_DAYS[now.weekday()]}), {zone.key}, UTC{_offset(now)}\n"
        f"ISO 8601: {now.isoformat(timespec='seconds')}"
    )


def zone_find(name: str) -> ZoneInfo:
    """The zone called ``name``, ignoring case ("europe/paris"); raises ``ToolFailure``
    naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    key = _keys_by_lower_case().get(name.strip().lower())
    if key is None:
        raise ToolFailure(
            f"unknown time zone {name[:64]!r}: use an IANA name such as Europe/Paris, "
            "America/New_York, Asia/Tokyo or UTC"
        )
    return ZoneInfo(key)


@cache
def _keys_by_lower_case() -> dict[str, str]:
    # available_timezones() walks the zone database: read it once per process.
    return {key.lower(): key for key in available_timezones()}


def _offset(moment: datetime.datetime) -> str:
    minutes = round((moment.utcoffset() or datetime.timedelta()).total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _current_datetime(arguments: dict[str, Any], context: ToolContext) -> str:
    return now_in(arguments.get("timezone"))


TOOL = Tool(
    name="current_datetime",
    description=(
        "The current date, time and day of the week. Use it whenever the answer depends on "
        "today's date or the time (ages, deadlines, 'next Friday', opening hours). Without a "
        "timezone it gives the server's local time."
    ),
    parameters={
        "type": "object",
        "properties": {
            "timezone": {
                "type": "string",
                "maxLength": 64,
                "description": "An IANA time zone such as Europe/Paris or America/New_York.",
            }
        },
        "additionalProperties": False,
    },
    function=_current_datetime,
    timeout=2.0,
    label="the date",
)
