"""What answers right now: shown on every page so nobody mistakes the simulator for a model."""

from __future__ import annotations

from dataclasses import dataclass

from agents.providers import configured_provider


@dataclass(frozen=True, slots=True)
class ModelStatus:
    offline: bool
    simulated: bool
    model: str
    provider: str


def model_status() -> ModelStatus:
    """The configured model, or offline mode."""
    config = configured_provider()
    if config is None:
        return ModelStatus(offline=True, simulated=False, model="", provider="offline")
    return ModelStatus(
        offline=False, simulated=config.simulated, model=config.model, provider=config.name
    )
