"""Which model Orion talks to, read from settings (``OPENAI_BASE_URL`` and friends).

With no base URL there is no provider and Orion runs in offline mode. The provider is
read once and kept: settings change only in tests, and Django's ``setting_changed``
signal (sent by ``override_settings`` and pytest-django's ``settings``) clears it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed

SIMULATOR_MODEL_PREFIX = "orion-sim"


@dataclass(frozen=True)
class ProviderConfig:
    """One OpenAI-compatible endpoint and the model asked for there (hashable: clients
    are kept per provider)."""

    name: str
    base_url: str
    api_key: str = field(repr=False)  # never in logs or tracebacks
    model: str
    timeout: float  # seconds of silence from the server before giving up
    connect_timeout: float  # seconds to get a connection, pool wait and proxy included
    max_retries: int  # extra attempts before the first byte of the answer
    price_in_per_1k: Decimal
    price_out_per_1k: Decimal

    @property
    def simulated(self) -> bool:
        return self.model.startswith(SIMULATOR_MODEL_PREFIX)


def configured_provider() -> ProviderConfig | None:
    """The provider from settings, or None in offline mode (no ``OPENAI_BASE_URL``)."""
    return _provider_from_settings()


@cache
def _provider_from_settings() -> ProviderConfig | None:
    if not settings.OPENAI_BASE_URL:
        return None
    return ProviderConfig(
        name=settings.ORION_PROVIDER_NAME,
        base_url=settings.OPENAI_BASE_URL,
        # Local servers (the simulator, Ollama) accept any key; the SDK insists on one.
        api_key=settings.OPENAI_API_KEY or "not-needed",
        model=settings.ORION_MODEL,
        timeout=settings.ORION_MODEL_TIMEOUT,
        connect_timeout=settings.ORION_MODEL_CONNECT_TIMEOUT,
        max_retries=settings.ORION_MODEL_RETRIES,
        price_in_per_1k=Decimal(str(settings.ORION_PRICE_INPUT_PER_1K)),
        price_out_per_1k=Decimal(str(settings.ORION_PRICE_OUTPUT_PER_1K)),
    )


def _forget_provider(**kwargs: object) -> None:
    _provider_from_settings.cache_clear()


setting_changed.connect(_forget_provider)
