"""The simulator's settings, and the URL a client on this machine uses to reach it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

DEFAULT_MODEL = "orion-sim-1"


@dataclass
class SimulatorConfig:
    """Everything the simulator can be told; the management command maps flags onto it."""

    host: str = "127.0.0.1"
    port: int = 8001  # 0 picks a free port; read it back from the simulator / thread
    ttft_ms: float = 200.0
    tokens_per_sec: float = 50.0
    reply_tokens: int = 60
    error_rate: float = 0.0  # fraction of chat completions answered with HTTP 500
    drop_after: int | None = None  # close streams abruptly after this many content tokens
    # Fraction of streams (seeded) closed abruptly halfway through (or after drop_after).
    drop_rate: float = 0.0
    api_key: str | None = None  # None accepts any (or no) bearer key
    seed: int = 0  # drives error_rate decisions only; replies depend on the messages alone
    model: str = DEFAULT_MODEL

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0.0 and 1.0")
        if not 0.0 <= self.drop_rate <= 1.0:
            raise ValueError("drop_rate must be between 0.0 and 1.0")
        if self.tokens_per_sec <= 0:
            raise ValueError("tokens_per_sec must be positive")
        if self.ttft_ms < 0:
            raise ValueError("ttft_ms must not be negative")
        if self.reply_tokens < 0:
            raise ValueError("reply_tokens must not be negative")
        if self.drop_after is not None and self.drop_after < 0:
            raise ValueError("drop_after must not be negative")


# What ``POST /sim/control`` may change while the simulator runs.
CONTROL_FIELDS = (
    "ttft_ms", "tokens_per_sec", "reply_tokens", "error_rate", "drop_after", "drop_rate",
)  # fmt: skip


def control_view(config: SimulatorConfig) -> dict[str, Any]:
    return {k: v for k, v in asdict(config).items() if k in CONTROL_FIELDS}


def control_apply(config: SimulatorConfig, changes: dict[str, Any]) -> SimulatorConfig:
    """``config`` with ``changes`` (fields of ``CONTROL_FIELDS``); ValueError names what
    is wrong (an unknown field, a value of the wrong kind or out of range)."""
    unknown = sorted(set(changes) - set(CONTROL_FIELDS))
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    for name, value in changes.items():
        allowed_none = name == "drop_after" and value is None
        if not allowed_none and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{name} must be a number")
        if name in ("reply_tokens", "drop_after") and value is not None and value != int(value):
            raise ValueError(f"{name} must be a whole number")
    typed = {k: (int(v) if k in ("reply_tokens", "drop_after") and v is not None else v)
             for k, v in changes.items()}  # fmt: skip
    return replace(config, **typed)  # type: ignore[arg-type]  # __post_init__ checks them


def client_host(host: str) -> str:
    """``http://host`` that a client on this machine can connect to."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - mapping a wildcard bind to loopback
        return "http://127.0.0.1"
    if host == "::":
        return "http://[::1]"
    if ":" in host:
        return f"http://[{host}]"
    return f"http://{host}"
