"""What a bench run measured: the simulator's schedule, the CPU clocks read at an instant,
the pool warm-up, and each phase's streams, with the statistics taken of them."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadclient import StreamResult, WorkerReport

# After the warm burst, the servers count as quiet (its titles done) once the simulator has
# had no request and streamed nothing, and the servers used under SETTLE_CPU_PCT of a core,
# for SETTLE_QUIET_S in a row; the harness waits at most SETTLE_TIMEOUT_S for that.
SETTLE_QUIET_S = 1.0
SETTLE_CPU_PCT = 10.0
SETTLE_TIMEOUT_S = 20.0


# --- the schedule --------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    ttft_ms: float
    tokens_per_sec: float
    tokens: int

    @property
    def ideal_ttft_ms(self) -> float:
        return self.ttft_ms

    @property
    def ideal_duration_ms(self) -> float:
        """First token at ttft, then one token every 1/rate s: the last is due at this time."""
        return self.ttft_ms + max(self.tokens - 1, 0) * 1000.0 / self.tokens_per_sec


# --- statistics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (numpy's default); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Probe:
    """CPU clocks read at one instant."""

    at: float
    server_cpu_s: float
    sim_cpu_s: float
    machine_busy_s: float
    machine_total_s: float


def other_cpu_s(before: Probe, after: Probe, client_cpu_s: float) -> float:
    """Busy CPU on the machine between two readings, not the servers', the simulator's or
    the load clients' (``client_cpu_s``)."""
    busy = after.machine_busy_s - before.machine_busy_s
    ours = after.server_cpu_s - before.server_cpu_s + after.sim_cpu_s - before.sim_cpu_s
    return max(0.0, busy - ours - client_cpu_s)


@dataclass
class PoolWarmup:
    """The pool warm-up before the timed run (``chats == 0``: none, the pool was cold)."""

    chats: int = 0
    burst_s: float = math.nan  # from the burst's first send to its last final frame
    ttft_p50_ms: float = math.nan  # of the burst's one-token replies
    settle_s: float = math.nan  # then waiting for the servers and the simulator to go quiet
    settled: bool = False  # False: still busy after SETTLE_TIMEOUT_S
    first_done: float = math.nan  # monotonic: the burst's first final frame
    gap_s: float = math.nan  # from the burst's first final frame to the timed sends
    pooled: int = -1  # model connections the servers held open just before the sends

    @property
    def warmed(self) -> bool:
        return self.chats > 0


@dataclass
class PhaseResult:
    name: str
    streams: int
    wall_s: float  # shared start instant -> last report
    results: list[StreamResult]
    reports: list[WorkerReport]
    before: Probe
    after: Probe
    sim_stats: dict[str, Any]
    server_peak_rss_mb: float = math.nan
    pool: PoolWarmup | None = None  # the app run's pool warm-up

    @property
    def completed(self) -> list[StreamResult]:
        return [r for r in self.results if r.ok]

    def _since_send_ms(self, moment: str) -> list[float]:
        """Milliseconds from each completed stream's send to its ``moment`` (a ``t_*`` field)."""
        spans = []
        for r in self.completed:
            at = getattr(r, moment)
            if at is not None and r.t_send is not None:
                spans.append((at - r.t_send) * 1000.0)
        return spans

    def ttft_ms(self) -> list[float]:
        return self._since_send_ms("t_first")

    def ack_ms(self) -> list[float]:
        """Send to the first frame back (the app: exchange frame, i.e. the message is stored)."""
        return self._since_send_ms("t_ack")

    def duration_ms(self) -> list[float]:
        return self._since_send_ms("t_done")

    def frames(self) -> list[float]:
        return [float(r.frames) for r in self.completed]

    @property
    def client_cpu_s(self) -> float:
        return sum(r.cpu_s for r in self.reports)

    @property
    def client_cpu_pct(self) -> float:
        """Load-client CPU as percent of one core over the run, summed over its processes."""
        return 100.0 * self.client_cpu_s / self.wall_s if self.wall_s > 0 else math.nan

    def cpu_pct(self, seconds: float) -> float:
        return 100.0 * seconds / self.wall_s if self.wall_s > 0 else math.nan

    @property
    def server_cpu_s(self) -> float:
        return self.after.server_cpu_s - self.before.server_cpu_s

    @property
    def sim_cpu_s(self) -> float:
        return self.after.sim_cpu_s - self.before.sim_cpu_s

    @property
    def other_cpu_s(self) -> float:
        return other_cpu_s(self.before, self.after, self.client_cpu_s)

    @property
    def tokens(self) -> int:
        return int(self.sim_stats.get("tokens", 0))

    @property
    def sim_connections(self) -> int:
        """Connections the simulator saw opened from its reset (just before the start
        instant) to the end of the run."""
        return int(self.sim_stats.get("connections", -1))

    def errors(self) -> Counter[str]:
        # Group similar messages: numbers (ids, seconds) would make each one unique.
        return Counter(re.sub(r"\d+", "N", r.error) for r in self.results if not r.ok)
