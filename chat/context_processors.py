from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from agents.pipeline import model_status


def orion(request: HttpRequest) -> dict[str, Any]:
    return {"model_status": model_status()}
