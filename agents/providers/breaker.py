"""A circuit breaker per provider, its state shared by every process through the Django
cache (Redis when configured).

- **closed**: calls go through; each failure adds to a count of recent failures
  (``ORION_BREAKER_WINDOW_SECONDS``), a success clears it.
- **open**: after ``ORION_BREAKER_FAILURES`` failures in a row the provider is skipped at
  once, without a call, for ``ORION_BREAKER_COOLDOWN_SECONDS``.
- **half-open**: after the cool-down one call (in whichever process claims it first) is let
  through as a trial; its success closes the breaker, its failure opens it again.

Reads are batched: the answer pipeline reads every provider's state for a burst of replies
in one ``get_many`` (``breakers_read``). Writes happen on failures and on the first
success after them, never on the healthy path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


def _key(name: str, part: str) -> str:
    return f"agents:breaker:{name}:{part}"


@dataclass(frozen=True, slots=True)
class BreakerState:
    name: str
    failures: int = 0
    opened_at: float | None = None

    def phase(self, now: float) -> str:
        if self.opened_at is None:
            return CLOSED
        if now - self.opened_at < settings.ORION_BREAKER_COOLDOWN_SECONDS:
            return OPEN
        return HALF_OPEN


def breakers_read(names: Iterable[str]) -> dict[str, BreakerState]:
    """Each provider's breaker, in one cache read. A cache that is away reads as closed
    (the providers themselves will say whether they work)."""
    names = list(names)
    keys = {name: (_key(name, "failures"), _key(name, "open")) for name in names}
    try:
        found = cache.get_many([k for pair in keys.values() for k in pair])
    except Exception as exc:
        logger.warning("circuit breakers unreadable, taken as closed: %s", exc)
        found = {}
    return {
        name: BreakerState(name, int(found.get(failures) or 0), found.get(opened))
        for name, (failures, opened) in keys.items()
    }


def breaker_trial(name: str) -> bool:
    """Claim the one trial call of a half-open breaker (True for exactly one caller)."""
    try:
        return bool(cache.add(_key(name, "trial"), 1, settings.ORION_BREAKER_COOLDOWN_SECONDS))
    except Exception:
        return False


def breaker_failure(name: str, *, now: float | None = None) -> bool:
    """Count a failed call; opens the breaker at the threshold (or again after a failed
    trial). Returns whether it is open now."""
    now = time.time() if now is None else now
    failures_key = _key(name, "failures")
    try:
        cache.add(failures_key, 0, settings.ORION_BREAKER_WINDOW_SECONDS)
        failures = cache.incr(failures_key)
        trial = cache.get(_key(name, "trial")) is not None
        if failures >= settings.ORION_BREAKER_FAILURES or trial:
            cache.set(_key(name, "open"), now, timeout=None)
            cache.delete(_key(name, "trial"))
            logger.warning("provider %s: circuit breaker open after %d failures", name, failures)
            return True
    except Exception as exc:
        logger.warning("provider %s: failure not counted: %s", name, exc)
    return False


def breaker_success(name: str) -> None:
    """Close the breaker (called only when its state showed failures or a trial)."""
    try:
        cache.delete_many([_key(name, "failures"), _key(name, "open"), _key(name, "trial")])
    except Exception as exc:
        logger.warning("provider %s: breaker not reset: %s", name, exc)
