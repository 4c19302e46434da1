"""Stopping a reply from a process that does not generate it: the stop goes through the
conversation's group on Redis to the server process that does, which closes the model
request, keeps the text and ends the reply "stopped"."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from agents.models import Run
from chat.models import Message
from tests.conftest import BASE_DIR, child_env
from tests.faults.servers import Drill, streaming

pytestmark = pytest.mark.django_db(transaction=True)

STOP = """
import django; django.setup()
from asgiref.sync import async_to_sync
from chat.live.generation import reply_stop
async_to_sync(reply_stop)(conversation_id="{conversation}", reason="stopped")
"""


@pytest.fixture
def drill(simulator: Any) -> Iterator[Drill]:
    drill = Drill(simulator)
    yield drill
    drill.close()


def test_a_reply_is_stopped_from_another_process(drill: Drill, simulator: Any) -> None:
    redis = drill.redis()
    server = drill.server(REDIS_URL=redis.url)
    page = drill.page(server, "stopper")
    page.send("a long answer please [sim:tokens=400][sim:slow]")
    page.until(streaming)

    env = child_env(simulator, REDIS_URL=redis.url, DJANGO_SETTINGS_MODULE="project.settings")
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", STOP.format(conversation=page.conversation_id)],
        env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    final = page.until_ended(timeout=20)  # 400 tokens at 5 a second would take 80 s
    assert 'data-status="interrupted"' in final and "Stopped." in final
    reply = Message.objects.get(conversation_id=page.conversation_id, role="assistant")
    assert (reply.status, reply.error_code) == ("interrupted", "stopped") and reply.content
    run = Run.objects.get(message=reply)
    assert (run.outcome, run.error_code, run.cost_estimated) == ("interrupted", "stopped", True)
