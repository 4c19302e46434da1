"""Drills: a server process stopped (SIGTERM) or killed (SIGKILL) while it answers.

Each drill counts accepted user messages lost (must be 0) and replies left live after
recovery (must be 0). They run on whatever the suite runs on: PostgreSQL and Redis in CI.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chat.models import Message
from tests.faults.servers import Drill, OrionProcess, Page, streaming, tally, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "tell me everything [sim:tokens=400][sim:slow]"  # 80 s at 5 tokens a second


@pytest.fixture
def drill(simulator: Any) -> Iterator[Drill]:
    drill = Drill(simulator)
    yield drill
    drill.close()


def _pages(drill: Drill, server: OrionProcess, text: str, n: int = 3) -> list[Page]:
    pages = [drill.page(server, f"drill-{i}") for i in range(n)]
    for page in pages:
        assert "composer-error" in page.send(text)
    for page in pages:
        page.until(streaming)
    return pages


def _listening(server: OrionProcess) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", server.port), 0.5):
            return True
    except OSError:
        return False


def _stopped(process: Any) -> bool:
    """Ended by the SIGTERM it was sent, after shutting down cleanly: uvicorn re-raises
    the signal once it is done, as a process manager expects."""
    return process.wait(30) in (0, -signal.SIGTERM)


def test_sigterm_lets_replies_finish_within_the_grace(drill: Drill) -> None:
    server = drill.server(ORION_SHUTDOWN_GRACE_SECONDS="30")
    pages = _pages(drill, server, "a short answer [sim:tokens=12][sim:slow]")  # about 2.4 s

    server.process.send_signal(signal.SIGTERM)
    wait_for(lambda: not _listening(server), 10)  # it stopped listening: it is draining
    refused = pages[0].send("one more thing")
    assert "Orion is restarting" in refused and "send it again" in refused
    for page in pages:
        assert 'data-status="complete"' in page.until_ended()
        assert page.drain() == 1012  # then the page reconnects elsewhere
    assert _stopped(server.process)

    result = tally(pages)
    assert (result.lost, result.live) == (0, 0)
    assert result.statuses == ["complete"] * 3
    assert all(len(text.split()) >= 10 for text in result.texts)
    assert not Message.objects.filter(content="one more thing").exists()


def test_sigterm_interrupts_what_outlasts_the_grace_and_keeps_its_text(drill: Drill) -> None:
    server = drill.server(ORION_SHUTDOWN_GRACE_SECONDS="1")
    pages = _pages(drill, server, LONG)

    stopped_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    for page in pages:
        assert 'data-status="interrupted"' in page.until_ended()
    assert _stopped(server.process)
    assert time.monotonic() - stopped_at < 15  # not the 80 s the replies wanted

    result = tally(pages)
    assert (result.lost, result.live) == (0, 0)
    assert result.statuses == ["interrupted"] * 3
    assert all(text.strip() for text in result.texts)  # what they had said is kept


def test_a_second_sigterm_cuts_the_grace_short(drill: Drill) -> None:
    server = drill.server(ORION_SHUTDOWN_GRACE_SECONDS="120")
    pages = _pages(drill, server, LONG, n=1)

    stopped_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    wait_for(lambda: not _listening(server), 10)
    server.process.send_signal(signal.SIGTERM)
    assert 'data-status="interrupted"' in pages[0].until_ended()
    assert _stopped(server.process)
    assert time.monotonic() - stopped_at < 20  # not the 120 s grace

    result = tally(pages)
    assert (result.lost, result.live, result.statuses) == (0, 0, ["interrupted"])


def test_sigkill_replies_are_swept_to_interrupted_without_anyone_reconnecting(drill: Drill) -> None:
    fast = {"ORION_GENERATION_LEASE_SECONDS": "3", "ORION_SWEEP_SECONDS": "0.5",
            "ORION_CHECKPOINT_SECONDS": "0.5"}  # fmt: skip
    server = drill.server(**fast)
    pages = _pages(drill, server, LONG)
    # A checkpoint of each reply's text is in the database.
    saved = Message.objects.filter(status="streaming").exclude(content="")
    wait_for(lambda: saved.count() == 3, 10)

    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    killed_at = time.monotonic()
    drill.server(**fast)  # the process that takes over (no page connects to it)
    ready_after = time.monotonic() - killed_at
    wait_for(lambda: not Message.objects.filter(status__in=Message.LIVE_STATUSES).exists(), 20)
    swept_after = time.monotonic() - killed_at - ready_after

    result = tally(pages)
    assert (result.lost, result.live) == (0, 0)
    assert result.statuses == ["interrupted"] * 3
    assert all(text.strip() for text in result.texts)
    # At most: the lease, the sweep's patience (a third of the lease, plus 1 s), two sweeps
    # and a margin for a busy machine.
    assert swept_after < 3 + (1 + 1) + 2 * 0.6 + 5
