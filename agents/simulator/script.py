"""The scripted behaviour: ``[sim:...]`` markers that steer a single reply.

A test or a person at the keyboard puts markers in the last user message to get an error,
a dropped stream, a reply of a given length or a given time to first token, without
restarting the simulator with other settings. The marker list is in the package docstring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Rate of a reply marked ``[sim:slow]``, in tokens per second.
SLOW_TOKENS_PER_SEC = 5.0

MARKER_RE = re.compile(r"\[sim:(error|slow|drop=(\d+)|tokens=(\d+)|ttft=(\d+(?:\.\d+)?))\]")


@dataclass
class Overrides:
    """What the markers of one message ask for; None means "as configured"."""

    error: bool = False
    slow: bool = False
    drop: int | None = None
    tokens: int | None = None
    ttft_ms: float | None = None


def parse_markers(text: str) -> Overrides:
    """Collect the ``[sim:...]`` markers found in ``text``; a later marker of a kind wins."""
    found = Overrides()
    for match in MARKER_RE.finditer(text):
        kind = match.group(1)
        if kind == "error":
            found.error = True
        elif kind == "slow":
            found.slow = True
        elif match.group(2) is not None:
            found.drop = int(match.group(2))
        elif match.group(3) is not None:
            found.tokens = int(match.group(3))
        elif match.group(4) is not None:
            found.ttft_ms = float(match.group(4))
    return found
