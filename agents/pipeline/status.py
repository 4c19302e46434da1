"""What answers right now: shown on every page so nobody mistakes the simulator for a model."""

from __future__ import annotations

from dataclasses import dataclass

from agents.pipeline.config import staff_config
from agents.providers import configured_provider


@dataclass(frozen=True, slots=True)
class ModelStatus:
    offline: bool
    simulated: bool
    model: str
    provider: str


def model_status() -> ModelStatus:
    """The first model of the chain (staff's providers, else the one from settings), or
    offline mode. Synchronous: it may read staff's configuration from the database."""
    try:
        chain = staff_config().providers
    except Exception:  # the cache or the database is away: the page must still render
        chain = ()
    config = chain[0] if chain else configured_provider()
    if config is None:
        return ModelStatus(offline=True, simulated=False, model="", provider="offline")
    return ModelStatus(
        offline=False, simulated=config.simulated, model=config.model, provider=config.name
    )
