"""What a call cost, from the provider's prices per thousand tokens."""

from __future__ import annotations

from decimal import Decimal

from agents.providers.config import ProviderConfig
from agents.providers.events import Usage

_MICRO = Decimal("0.000001")


def usage_cost(config: ProviderConfig, usage: Usage) -> Decimal:
    """The cost of ``usage`` at ``config``'s prices, to a millionth of the currency unit."""
    total = usage.tokens_in * config.price_in_per_1k + usage.tokens_out * config.price_out_per_1k
    return (total / 1000).quantize(_MICRO)
