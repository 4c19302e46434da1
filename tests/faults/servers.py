"""Real Orion server processes for the fault drills, and pages talking to them over real
WebSockets. Every drill ends with the same two counts: accepted user messages that were
not stored (must be 0) and replies left in a live status (must be 0)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import psycopg
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from agents.simulator import SimulatorThread
from chat.models import Message
from chat.owners import Owner
from chat.services import conversation_create
from tests.conftest import (
    BASE_DIR,
    celery_worker,
    child_env,
    free_port,
    serve,
    stop,
    visitor_session,
    wait_for_port,
)

STATUS = re.compile(r'class="message assistant"[^>]*data-status="(\w+)"')
ENDED = {"complete", "failed", "interrupted"}
ACCEPTED = re.compile(r'id="composer-error"[^>]*></div>')  # no error: the send was stored


class OrionProcess:
    """``manage.py serve`` on a port of its own, on the test database."""

    def __init__(self, simulator: SimulatorThread, **env: str) -> None:
        self.process, self.port = serve(
            child_env(simulator, DJANGO_ALLOWED_HOSTS="127.0.0.1", **env)
        )

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

    conversation_id: str
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


class PostgresProcess:
    """A PostgreSQL cluster of the drill's own, migrated (the suite's shared one is never
    restarted). initdb refuses to run as root: there it runs as the ``postgres`` user."""

    def __init__(self, directory: str) -> None:
        self.port = free_port()
        self.data = Path(directory) / "data"
        self.data.mkdir()
        self.bin = (
            Path(
                shutil.which("pg_ctl")
                or sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]
            )
            .resolve()
            .parent
        )
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres")
            shutil.chown(self.data, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as connection:
            connection.execute("CREATE DATABASE orion_drill")

    def url_for(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    @property
    def url(self) -> str:
        return self.url_for("orion_drill")

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(  # noqa: S603
            [*self.as_user, str(self.bin / program), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def migrate(self, simulator: SimulatorThread) -> None:
        subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=BASE_DIR,
            env=child_env(simulator, DATABASE_URL=self.url),
            check=True,
        )

    def stored(self, conversation_id: str) -> list[tuple[str, str, str]]:
        """A conversation's messages in this cluster."""
        with psycopg.connect(self.url) as connection:
            cursor = connection.execute(
                "SELECT role, status, content FROM chat_message"
                " WHERE conversation_id = %s ORDER BY id",
                (conversation_id,),
            )
            return list(cursor.fetchall())


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

    def postgres(self) -> PostgresProcess:
        postgres = PostgresProcess(self.stack.enter_context(TemporaryDirectory()))
        self.stack.callback(postgres.stop)
        postgres.migrate(self.simulator)
        return postgres

    def worker(self, **env: str) -> None:
        """A Celery worker (on the broker ``env`` names)."""
        process = celery_worker(child_env(self.simulator, **env))
        self.stack.callback(stop, process)

    def page(self, server: OrionProcess, owner_name: str) -> Page:
        """A page on a conversation made in the test database."""
        owner, cookie = visitor_session(owner_name)
        conversation = conversation_create(owner=Owner(anon_id=owner.anon_id))
        return self._open(server, str(conversation.pk), cookie.decode())

    def web_page(self, server: OrionProcess) -> Page:
        """A page opened the way a person opens one (the home page, then "New
        conversation"), in whatever database the server uses."""
        with httpx.Client(base_url=server.origin, timeout=15) as client:
            client.get("/").raise_for_status()
            token = client.cookies[settings.CSRF_COOKIE_NAME]
            response = client.post(
                "/conversations/new/", headers={"X-CSRFToken": token, "Origin": server.origin}
            )
            assert response.status_code == 302, response.text
            conversation_id = response.headers["location"].rstrip("/").rsplit("/", 1)[-1]
            session = client.cookies[settings.SESSION_COOKIE_NAME]
        return self._open(server, conversation_id, f"{settings.SESSION_COOKIE_NAME}={session}")

    def _open(self, server: OrionProcess, conversation_id: str, cookie: str) -> Page:
        socket = self.stack.enter_context(
            connect(
                f"ws://127.0.0.1:{server.port}/ws/conversations/{conversation_id}/",
                additional_headers={"Cookie": cookie, "Origin": server.origin},
                open_timeout=15,
            )
        )
        return Page(conversation_id, socket)

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


Rows = Callable[[str], list[tuple[str, str, str]]]  # a conversation's role, status, content


def stored(conversation_id: str) -> list[tuple[str, str, str]]:
    """A conversation's messages in the test database."""
    messages = Message.objects.filter(conversation_id=conversation_id).order_by("id")
    return list(messages.values_list("role", "status", "content"))


def tally(pages: list[Page], rows: Rows = stored) -> Tally:
    lost = live = 0
    statuses, texts = [], []
    for page in pages:
        messages = rows(page.conversation_id)
        users = [m for m in messages if m[0] == "user"]
        replies = [m for m in messages if m[0] == "assistant"]
        lost += max(0, page.accepted - len(users))
        live += sum(status in Message.LIVE_STATUSES for _, status, _ in replies)
        statuses += [status for _, status, _ in replies]
        texts += [content for _, _, content in replies]
    return Tally(lost, live, statuses, texts)


def wait_for(condition: Callable[[], Any], timeout: float, step: float = 0.1) -> float:
    """Seconds until ``condition()`` held; raises after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started
