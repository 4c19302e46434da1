"""Drills: Redis, then PostgreSQL, restarted while Orion answers.

Replies in progress end (complete, or failed/interrupted with their text); sends during
the outage get a clear "send it again" and leave nothing half-stored; pages reconnect by
themselves afterwards. Each drill counts accepted user messages lost and replies left
live (both must be 0)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from chat.models import Message
from tests.faults.servers import Drill, OrionProcess, Page, streaming, tally

pytestmark = pytest.mark.django_db(transaction=True)

MEDIUM = "a medium answer [sim:tokens=30][sim:slow]"  # about 6 s


@pytest.fixture
def drill(simulator: Any) -> Iterator[Drill]:
    drill = Drill(simulator)
    yield drill
    drill.close()


def _send_once_back(drill: Drill, server: OrionProcess, timeout: float) -> Page:
    """A page that connects and sends as soon as the server can take it (as the page's own
    reconnecting would)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            page = drill.web_page(server)
            if "send it again" not in page.send("back again [sim:tokens=3]"):
                return page
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def test_redis_restarted_mid_reply(drill: Drill) -> None:
    redis = drill.redis()
    server = drill.server(REDIS_URL=redis.url, ORION_GENERATION_LEASE_SECONDS="5")
    drill.worker(REDIS_URL=redis.url)  # titles: queued on Redis, written by a worker
    pages = [drill.page(server, f"drill-{i}") for i in range(3)]
    spare = drill.page(server, "drill-spare")
    for page in pages:
        page.send(MEDIUM)
    for page in pages:
        page.until(streaming)

    redis.stop()
    refused = spare.send("sent while Redis is away")
    assert "send it again" in refused
    time.sleep(1.0)
    redis.start()

    for page in pages:  # they went on streaming to their pages meanwhile
        assert 'data-status="complete"' in page.until_ended(timeout=30)
    # The pages that stayed open through the restart are in their groups again: the
    # titles the worker writes after it reach them.
    for page in pages:
        page.until(lambda frame: 'id="conversation-title"' in frame, timeout=30)
    back = _send_once_back(drill, server, timeout=30)
    assert 'data-status="complete"' in back.until_ended()

    result = tally([*pages, spare, back])
    assert (result.lost, result.live) == (0, 0)
    assert all(text.strip() for text in result.texts)
    assert not Message.objects.filter(content="sent while Redis is away").exists()
    assert not Message.objects.filter(conversation_id=spare.conversation_id).exists()


def test_postgresql_restarted_mid_reply(drill: Drill) -> None:
    postgres = drill.postgres()
    server = drill.server(DATABASE_URL=postgres.url, ORION_CHECKPOINT_SECONDS="0.5")
    pages = [drill.web_page(server) for _ in range(3)]
    spare = drill.web_page(server)
    for page in pages:
        page.send("a short answer [sim:tokens=12][sim:slow]")  # about 2.4 s
    for page in pages:
        page.until(streaming)

    postgres.stop()  # the replies end while it is away: their last writes must wait for it
    refused = spare.send("sent while PostgreSQL is away")
    assert "send it again" in refused
    time.sleep(4.0)
    postgres.start()

    for page in pages:
        assert 'data-status="complete"' in page.until_ended(timeout=60)
    back = _send_once_back(drill, server, timeout=30)
    assert 'data-status="complete"' in back.until_ended()

    result = tally([*pages, spare, back], postgres.stored)
    assert (result.lost, result.live) == (0, 0)
    assert result.statuses == ["complete"] * 4
    assert all(len(text.split()) >= 10 for text in result.texts[:3])
    assert postgres.stored(spare.conversation_id) == []
