"""The gate that admits sends, in memory (embedded) and in Redis (every process)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest

from chat.services.admission import (
    ADMITTED,
    BUSY,
    Ask,
    Gate,
    Limits,
    MemoryGate,
    RedisGate,
    window,
)
from project.env import rate_split

LIMITS = Limits(count=2, period=3600, lease_seconds=15)
NOW = 1_800_000_000.0  # a window boundary is at a multiple of the period


@pytest.fixture(params=["memory", "redis"])
def gate(request: pytest.FixtureRequest) -> Iterator[Gate]:
    if request.param == "memory":
        yield MemoryGate()
        return
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/9"
    found = RedisGate(url, f"test-gate-{uuid.uuid4().hex}")
    yield found
    found.clear()


def admit(gate: Gate, *asks: Ask, now: float = NOW, holder: str = "p1") -> list[int]:
    return gate.admit(list(asks), limits=LIMITS, holder=holder, now=now)


def test_the_limit_counts_per_owner(gate: Gate) -> None:
    results = admit(gate, *(Ask(None, "user:1", f"10.0.0.{n}") for n in range(3)))
    assert results[:2] == [ADMITTED, ADMITTED]
    assert results[2] == 3600  # seconds until the window ends


def test_the_limit_counts_per_address(gate: Gate) -> None:
    results = admit(gate, *(Ask(None, f"user:{n}", "10.0.0.9") for n in range(3)))
    assert results == [ADMITTED, ADMITTED, 3600]


def test_owners_and_addresses_do_not_share_a_budget(gate: Gate) -> None:
    assert admit(gate, Ask(None, "user:1", "10.0.0.1"), Ask(None, "user:2", "10.0.0.2")) == [
        ADMITTED,
        ADMITTED,
    ]


def test_a_new_window_starts_a_new_count(gate: Gate) -> None:
    ask = Ask(None, "user:1", "10.0.0.1")
    assert admit(gate, ask, ask, ask, now=NOW + 3599.5)[2] == 1
    assert admit(gate, ask, now=NOW + 3600) == [ADMITTED]


def test_one_reply_per_conversation_and_a_busy_send_uses_no_quota(gate: Gate) -> None:
    first, second = Ask("c1", "user:1", "10.0.0.1"), Ask("c2", "user:1", "10.0.0.1")
    assert admit(gate, first, first, first) == [ADMITTED, BUSY, BUSY]
    assert gate.holder("c1") == "p1"
    assert admit(gate, second) == [ADMITTED]  # the two refusals counted nothing
    gate.release(["c1", "c2"])
    assert gate.holder("c1") is None
    assert admit(gate, first) == [3600]  # now over the limit: the lease is given back
    assert gate.holder("c1") is None


def test_a_lease_is_held_by_one_process_until_released_or_expired(gate: Gate) -> None:
    assert gate.acquire("c1", holder="p1", seconds=15)
    assert not gate.acquire("c1", holder="p2", seconds=15)
    asked = Ask("c1", "user:1", "10.0.0.1")
    assert admit(gate, asked, holder="p2", now=time.time()) == [BUSY]
    gate.refresh("c1", holder="p1", seconds=30)
    assert gate.holder("c1") == "p1"
    gate.release(["c1"])
    assert gate.acquire("c1", holder="p2", seconds=15)
    assert gate.holder("c1") == "p2"


def test_a_refresh_takes_a_lost_lease_again_and_keeps_another_holder_s(gate: Gate) -> None:
    gate.refresh("c1", holder="p1", seconds=15)  # lost (Redis restarted empty): taken again
    assert gate.holder("c1") == "p1"
    assert gate.holders(["c1", "c2"]) == ["p1", None]
    gate.refresh("c1", holder="p2", seconds=15)  # held: only extended, never stolen
    assert gate.holder("c1") == "p1"


def test_an_expired_lease_frees_its_conversation() -> None:
    gate = MemoryGate()
    assert admit(gate, Ask("c1", "user:1", "10.0.0.1"), now=NOW) == [ADMITTED]
    # the lease ran out 15 s later (its process died without releasing it)
    assert admit(gate, Ask("c1", "user:2", "10.0.0.2"), now=NOW + 16, holder="p2") == [ADMITTED]


def test_an_empty_burst_costs_nothing(gate: Gate) -> None:
    assert admit(gate) == []


def test_windows_and_rates() -> None:
    assert window(NOW + 10, 60) == (int((NOW + 10) // 60), 50)
    assert window(NOW + 59.2, 60)[1] == 1
    assert rate_split("20/m") == (20, 60)
    assert rate_split("100/5m") == (100, 300)
    assert rate_split("3/h") == (3, 3600)
    with pytest.raises(ValueError, match="not a rate"):
        rate_split("twenty")


def test_giving_leases_back_while_redis_is_away_is_no_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from chat.services import admission

    class Away:
        def release(self, conversation_ids: list[str]) -> None:
            raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(admission, "gate", Away)
    admission.lease_release("c1")  # the lease lapses by itself
    admission.leases_release(["c1", "c2"])
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
