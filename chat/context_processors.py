from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from agents.pipeline import model_status


def orion(request: HttpRequest) -> dict[str, Any]:
    return {
        "model_status": model_status(),
        "max_message_chars": settings.ORION_MAX_MESSAGE_CHARS,
    }
