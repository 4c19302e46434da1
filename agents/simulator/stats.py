"""Counters and token lateness of one simulator, served as ``GET /sim/stats``.

Lateness (how long after its due time each token was written) lets a benchmark show that
the simulator kept its schedule, i.e. that any slowness it measured came from the app.
"""

from __future__ import annotations

import itertools
import math
from typing import Any


class SimStats:
    """Counters plus a fixed-size lateness histogram.

    A histogram (0.1 ms bins up to 10 s) keeps recording O(1) and memory bounded however
    long a benchmark runs; percentiles are therefore accurate to 0.1 ms, the max is exact.
    """

    BIN_MS = 0.1
    BINS = 100_000

    def __init__(self) -> None:
        self.active_streams = 0  # a gauge, deliberately not cleared by reset()
        self.reset()

    def reset(self) -> None:
        """Clear the counters and the histogram (``POST /sim/stats/reset``)."""
        self.requests = 0
        self.connections = 0
        self.streams = 0
        self.tokens = 0
        self.errors = 0
        self.drops = 0
        self._hist = [0] * self.BINS
        self._late_count = 0
        self._late_max_s = 0.0

    def record_lateness(self, seconds: float) -> None:
        """Record one token written ``seconds`` after its due time."""
        if seconds < 0.0:
            seconds = 0.0
        index = int(seconds * 10_000.0)  # 0.1 ms bins
        self._hist[index if index < self.BINS else self.BINS - 1] += 1
        self._late_count += 1
        if seconds > self._late_max_s:
            self._late_max_s = seconds

    def _percentile_ms(self, cumulative: list[int], fraction: float) -> float:
        """Lateness at ``fraction`` of the recorded tokens, from the cumulative histogram."""
        rank = max(1, math.ceil(fraction * self._late_count))
        # First bin whose cumulative count reaches the rank; report its upper edge (a
        # conservative bound), never above the exact max.
        lo, hi = 0, len(cumulative) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cumulative[mid] >= rank:
                hi = mid
            else:
                lo = mid + 1
        return min((lo + 1) * self.BIN_MS, self._late_max_s * 1000.0)

    def snapshot(self) -> dict[str, Any]:
        """The /sim/stats document."""
        if self._late_count:
            cumulative = list(itertools.accumulate(self._hist))
            lateness = {
                name: round(self._percentile_ms(cumulative, fraction), 3)
                for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
            }
            lateness["max"] = round(self._late_max_s * 1000.0, 3)
        else:
            lateness = {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
        return {
            "requests": self.requests,
            "streams": self.streams,
            "tokens": self.tokens,
            "lateness_ms": lateness,
            "connections": self.connections,
            "active_streams": self.active_streams,
            "errors": self.errors,
            "drops": self.drops,
        }
