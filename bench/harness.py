"""The processes of a bench run (``bench/run.py``): the app's environment, the LLM
simulator, the server processes, the services' database and Redis keys, the profiler."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import idle
from bench_results import Schedule
from loadclient import ChatSpec
from procs import (
    Children,
    cpu_seconds,
    free_port,
    port_open,
    run_checked,
    wait_for_line,
    wait_until,
)

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = str(BASE_DIR / ".venv" / "bin" / "python")
MODEL = "orion-sim-1"


class Harness:
    """The processes of a bench run: its environment, the simulator, the servers, the
    services' databases, the profiler; stopped and cleaned up by ``close``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.schedule = Schedule(args.ttft_ms, args.tokens_per_sec, args.tokens)
        self.children = Children()
        self.tmp = Path(tempfile.mkdtemp(prefix="orion-bench-"))
        self.run_id = f"orion-bench-{secrets.token_hex(4)}"
        self.env = self._app_env()
        self.sim_pid = 0
        self.sim_root = ""
        self.sim_port = 0
        self.server_pid = 0  # the first server process (the one py-spy records)
        self.server_port = 0
        self.servers: list[subprocess.Popen[bytes]] = []
        self.server_pids: list[int] = []
        self.server_ports: list[int] = []
        self.pool_chats: list[ChatSpec] = []  # the pool warm-up's chats (setup's ``pool``)
        self.version = ""

    def _app_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.update(
            DJANGO_SETTINGS_MODULE="project.settings",
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            # The per-IP send limit (20/m by default) would refuse a load test from one address.
            ORION_RATE_LIMIT="100000/m",
            ORION_MAX_REPLY_TOKENS=str(max(1024, self.args.tokens)),
            OPENAI_API_KEY="x",
            ORION_MODEL=MODEL,
            PYTHONUNBUFFERED="1",
        )
        if self.args.config == "embedded":
            env["ORION_SQLITE_PATH"] = str(self.tmp / "bench.sqlite3")
        else:
            env.update(
                DATABASE_URL=self.args.database_url,
                REDIS_URL=self.args.redis_url,
                # Everything this run puts in Redis carries the run id and is deleted after.
                ORION_CACHE_PREFIX=self.run_id,
                ORION_CHANNEL_PREFIX=f"{self.run_id}:asgi",
                ORION_CELERY_QUEUE=self.run_id,
            )
        return env

    @staticmethod
    def code_version() -> str:
        """The app code measured: commit, and whether the work tree differs from it (read-only)."""

        def git(*args: str) -> str:
            return subprocess.run(  # noqa: S603 - fixed git subcommands from this function
                ["git", *args],  # noqa: S607
                cwd=BASE_DIR,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout

        try:
            head = git("rev-parse", "--short", "HEAD").strip()
            changed = git("status", "--porcelain", "--", ".", ":!bench", ":!.venv").splitlines()
        except (OSError, subprocess.SubprocessError):
            return "unknown (no git)"
        return head + (f" + {len(changed)} uncommitted change(s)" if changed else "")

    def log(self, message: str) -> None:
        print(f"[bench] {message}", flush=True)

    def prepare_services(self) -> None:
        import psycopg
        import redis

        parts = urlsplit(self.args.database_url)
        name = parts.path.lstrip("/")
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise RuntimeError(f"unexpected database name {name!r}")
        admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        client = redis.Redis.from_url(self.args.redis_url, socket_timeout=10)
        client.ping()
        client.close()
        self.log(f"PostgreSQL database {name} re-created; Redis keys prefixed {self.run_id}")

    def cleanup_services(self) -> None:
        import redis

        with contextlib.suppress(Exception):
            client = redis.Redis.from_url(self.args.redis_url, socket_timeout=10)
            keys = list(client.scan_iter(match=f"*{self.run_id}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
            client.close()

    def manage_script(self, script: str, *args: str, timeout: float = 300) -> None:
        """Run ``bench/<script>`` with the app's environment (its database)."""
        log = self.tmp / f"{script}.log"
        run_checked([PYTHON, str(BASE_DIR / "bench" / script), *args], env=self.env,
                    cwd=BASE_DIR, log=log, timeout=timeout)  # fmt: skip

    def sim_control(self, changes: dict[str, Any]) -> None:
        """Change the simulator's settings while it runs (``POST /sim/control``)."""
        sim = idle.SimStats(self.sim_root)
        try:
            sim.call("/sim/control", "POST", changes)
        finally:
            sim.close()

    def manage(self, *command: str, timeout: float = 300) -> None:
        log = self.tmp / f"manage-{command[0]}.log"
        run_checked(
            [PYTHON, "manage.py", *command], env=self.env, cwd=BASE_DIR, log=log, timeout=timeout
        )

    def start_simulator(self) -> None:
        log = self.tmp / "simulator.log"
        schedule = self.schedule
        cmd = [PYTHON, "manage.py", "llm_simulator", "--port", "0"]
        cmd += ["--ttft-ms", f"{schedule.ttft_ms:g}", "--tokens-per-sec"]
        cmd += [f"{schedule.tokens_per_sec:g}", "--reply-tokens", str(schedule.tokens)]
        proc = self.children.start("simulator", cmd, env=self.env, cwd=BASE_DIR, log=log)
        match = wait_for_line(
            proc, log, r"listening on (http://127\.0\.0\.1:\d+)/v1", timeout=30, what="simulator"
        )
        self.sim_pid = proc.pid
        self.sim_root = match.group(1)
        self.sim_port = int(match.group(1).rsplit(":", 1)[1])
        self.env["OPENAI_BASE_URL"] = f"{self.sim_root}/v1"
        self.log(f"simulator pid {proc.pid} at {self.sim_root}/v1 ({' '.join(cmd[1:])})")

    def start_servers(self) -> None:
        for n in range(self.args.server_procs):
            port = free_port()
            log = self.tmp / f"server-{n}.log"
            cmd = [PYTHON, "manage.py", "serve", "--port", str(port)]
            proc = self.children.start(f"server-{n}", cmd, env=self.env, cwd=BASE_DIR, log=log)
            wait_until(partial(port_open, port), timeout=60, what="server", proc=proc, log=log)
            self.servers.append(proc)
            self.server_pids.append(proc.pid)
            self.server_ports.append(port)
            self.log(f"server pid {proc.pid} on 127.0.0.1:{port} ({self.args.config} config)")
        self.server_pid, self.server_port = self.server_pids[0], self.server_ports[0]

    def stop_servers(self) -> None:
        for server in self.servers:
            self.children.stop(server)
        self.server_pid = 0
        self.servers, self.server_pids, self.server_ports = [], [], []

    def server_cpu_s(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.server_pids)

    def start_profiler(self, seconds: int = 0) -> subprocess.Popen[bytes]:
        """py-spy on the (first) server for --py-spy-seconds, else ``seconds``, else the
        ideal stream and 2 s more."""
        out: Path = self.args.py_spy
        binary = shutil.which(self.args.py_spy_bin) or self.args.py_spy_bin
        fmt = {".txt": "raw", ".json": "speedscope"}.get(out.suffix, "flamegraph")
        seconds = (
            self.args.py_spy_seconds
            or seconds
            or math.ceil(self.schedule.ideal_duration_ms / 1000 + 2)
        )
        cmd = [binary, "record", "--pid", str(self.server_pid), "--output", str(out)]
        cmd += ["--format", fmt, "--duration", str(seconds), "--nonblocking"]
        cmd += shlex.split(self.args.py_spy_extra)
        proc = self.children.start(
            "py-spy", cmd, env=os.environ, cwd=BASE_DIR, log=self.tmp / "py-spy.log"
        )
        self.log(f"py-spy recording the server for {seconds} s into {out}")
        return proc

    def close(self) -> None:
        self.children.stop_all()
        if self.args.config == "services":
            self.cleanup_services()
        if self.args.keep_tmp:
            self.log(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
