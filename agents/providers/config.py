"""Which models Orion talks to: the ``Provider`` rows staff edit (``provider_from_row``),
or, with none, the one from settings (``OPENAI_BASE_URL`` and friends).

With neither there is no provider and Orion runs in offline mode. The provider is
read once and kept: settings change only in tests, and Django's ``setting_changed``
signal (sent by ``override_settings`` and pytest-django's ``settings``) clears it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed

from agents.models import Provider

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


def provider_from_row(row: Provider) -> ProviderConfig:
    """A staff-edited provider row as a config: the key is read from the environment
    variable the row names (never stored); with no name, local servers need none."""
    # Only a variable meant for a key is read, whatever a row written around the admin says.
    named = row.api_key_env if row.api_key_env.endswith("_API_KEY") else ""
    key = os.environ.get(named, "") if named else ""
    return ProviderConfig(
        name=row.name,
        base_url=row.base_url.rstrip("/"),
        api_key=key or "not-needed",
        model=row.model,
        timeout=row.timeout,
        connect_timeout=row.connect_timeout,
        max_retries=row.max_retries,
        price_in_per_1k=Decimal(row.price_in_per_1k),
        price_out_per_1k=Decimal(row.price_out_per_1k),
    )


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
