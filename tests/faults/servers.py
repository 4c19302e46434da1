"""Real Orion server processes for the fault drills, and pages talking to them over real
WebSockets. Every drill ends with the same two counts: accepted user messages that were
not stored (must be 0) and replies left in a live status (must be 0)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from tempfile import TemporaryDirectory
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from agents.simulator import SimulatorThread
from chat.models import Conversation, Message
from chat.owners import Owner
from chat.services import conversation_create
from tests.conftest import BASE_DIR, child_env, free_port, visitor_session, wait_for_port

STATUS = re.compile(r'class="message assistant"[^>]*data-status="(\w+)"')
ENDED = {"complete", "failed", "interrupted"}
ACCEPTED = re.compile(r'id="composer-error"[^>]*></div>')  # no error: the send was stored


class OrionProcess:
    """``manage.py serve`` on a port of its own, on the test database."""

    def __init__(self, simulator: SimulatorThread, **env: str) -> None:
        self.port = free_port()
        environment = child_env(simulator, DJANGO_ALLOWED_HOSTS="127.0.0.1", **env)
        environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", "serve", "--port", str(self.port)],
            cwd=BASE_DIR,
            env=environment,
        )
        wait_for_port(self.port, self.process)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@dataclass
class Page:
    """One conversation open in a browser: its socket and what it was told."""

    conversation: Conversation
    socket: ClientConnection
    frames: list[str] = field(default_factory=list)
    accepted: int = 0  # sends the server said it stored

    def send(self, text: str) -> str:
        """Send a message; returns the frame that answers it (accepted, or an error)."""
        self.socket.send(json.dumps({"message": text}))
        frame = self.until(lambda f: 'id="composer-error"' in f)
        if ACCEPTED.search(frame):
            self.accepted += 1
        return frame

    def receive(self, timeout: float = 15) -> str:
        frame = str(self.socket.recv(timeout=timeout))
        self.frames.append(frame)
        return frame

    def until(self, found: Callable[[str], bool], timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.receive(max(0.1, deadline - time.monotonic()))
            if found(frame):
                return frame

    def until_ended(self, timeout: float = 30) -> str:
        """The reply's last frame (or raises when the socket closes first)."""
        return self.until(lambda f: (m := STATUS.search(f)) is not None and m[1] in ENDED, timeout)

    def drain(self) -> int | None:
        """Read what is left until the server closes the socket; its close code."""
        try:
            while True:
                self.receive(timeout=30)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None


class RedisProcess:
    """A Redis server of the drill's own (the suite's shared one is never restarted)."""

    def __init__(self, directory: str) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.directory],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Drill:
    """The servers and pages of one drill; everything is closed at its end."""

    def __init__(self, simulator: SimulatorThread) -> None:
        self.simulator = simulator
        self.stack = ExitStack()

    def server(self, **env: str) -> OrionProcess:
        server = OrionProcess(self.simulator, **env)
        self.stack.callback(server.end)
        return server

    def redis(self) -> RedisProcess:
        redis = RedisProcess(self.stack.enter_context(TemporaryDirectory()))
        self.stack.callback(redis.stop)
        return redis

    def page(self, server: OrionProcess, owner_name: str) -> Page:
        owner, cookie = visitor_session(owner_name)
        conversation = conversation_create(owner=Owner(anon_id=owner.anon_id))
        socket = self.stack.enter_context(
            connect(
                f"ws://127.0.0.1:{server.port}/ws/conversations/{conversation.pk}/",
                additional_headers={"Cookie": cookie.decode(), "Origin": server.origin},
                open_timeout=15,
            )
        )
        return Page(conversation, socket)

    def close(self) -> None:
        self.stack.close()


def streaming(frame: str) -> bool:
    """The reply's first text has reached the page."""
    return "beforeend:#msg-" in frame or 'data-status="streaming"' in frame


@dataclass(frozen=True)
class Tally:
    lost: int  # accepted user messages that are not stored
    live: int  # replies still pending or streaming
    statuses: list[str]
    texts: list[str]


def tally(pages: list[Page]) -> Tally:
    lost = live = 0
    statuses, texts = [], []
    for page in pages:
        messages = list(Message.objects.filter(conversation=page.conversation).order_by("id"))
        users = [m for m in messages if m.role == "user"]
        replies = [m for m in messages if m.role == "assistant"]
        lost += max(0, page.accepted - len(users))
        live += sum(m.is_live for m in replies)
        statuses += [m.status for m in replies]
        texts += [m.content for m in replies]
    return Tally(lost, live, statuses, texts)


def wait_for(condition: Callable[[], Any], timeout: float, step: float = 0.1) -> float:
    """Seconds until ``condition()`` held; raises after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started
