"""Child processes and /proc readings for the load benchmark (Linux only).

Every server, simulator and tool the harness starts goes through ``Children``: its own
session (so a Ctrl-C in the terminal reaches the harness first and the shutdown order stays
ours), a parent-death signal (so a SIGKILLed harness leaves nothing behind), the open-files
limit raised, and a bounded stop: SIGTERM to the process group, then SIGKILL. Load clients
are spawned multiprocessing workers (``worker_processes``) that set the same signal and
limit themselves, and are joined, then terminated, then killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import re
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import IO, Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1
# Load clients are spawned, not forked: a fresh interpreter, not a copy of the harness.
SPAWN = mp.get_context("spawn")


def raise_nofile(wanted: int = 65_536) -> int:
    """Raise the soft open-files limit (inherited by children); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """Have the kernel SIGTERM this process when its parent dies, however the parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Children:
    """The processes started by the harness; ``stop_all`` ends every one of them."""

    def __init__(self) -> None:
        self._procs: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def start(
        self, name: str, cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path
    ) -> subprocess.Popen[bytes]:
        out = log.open("wb")
        proc = subprocess.Popen(  # noqa: S603 - fixed argv built by the harness
            list(cmd), **_child(env, cwd, out), start_new_session=True
        )
        self._procs.append((name, proc, out))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        """SIGTERM the child's process group, SIGKILL it if it is still there after ``timeout``."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        for entry in list(self._procs):
            if entry[1] is proc:
                entry[2].close()
                self._procs.remove(entry)

    def stop_all(self, timeout: float = 5.0) -> None:
        """SIGTERM every child at once, then stop each (SIGKILL after ``timeout``)."""
        for _name, proc, _out in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc, _out in reversed(list(self._procs)):
            with contextlib.suppress(Exception):
                self.stop(proc, timeout=timeout)


def _child_setup() -> None:
    """In the child, before it runs its program: gone when the harness dies, and as many
    open files as it may have (a server holds one socket per page)."""
    die_with_parent()
    raise_nofile()


def _child(env: Mapping[str, str], cwd: Path, out: IO[bytes]) -> dict[str, Any]:
    """How every child of the harness runs: its environment and folder, no input, its
    output and errors into ``out``, and gone when the harness dies."""
    return {
        "cwd": cwd,
        "env": dict(env),
        "stdin": subprocess.DEVNULL,
        "stdout": out,
        "stderr": subprocess.STDOUT,
        "preexec_fn": _child_setup,
    }


@contextlib.contextmanager
def worker_processes(
    name: str, target: Callable[..., None], worker_args: Sequence[tuple[Any, ...]], sync: Any
) -> Iterator[Sequence[BaseProcess]]:
    """Start one spawned process per ``worker_args`` (``target(i, *args, sync)``); on the
    way out, give them time to finish (a moment if the block failed), then stop them."""
    procs = [
        SPAWN.Process(target=target, args=(i, *a, sync), daemon=True, name=f"{name}-client-{i}")
        for i, a in enumerate(worker_args)
    ]
    finished = False
    try:
        for proc in procs:
            proc.start()
        yield procs
        finished = True
    finally:
        for proc in procs:
            # Finished workers close their sockets and exit; on an error, stop them now.
            proc.join(timeout=30 if finished else 0.1)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)


def drain(queue: Any, count: int, timeout: float) -> list[Any]:
    """Up to ``count`` items from a multiprocessing queue, waiting at most ``timeout`` s."""
    import queue as queue_module

    items: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(items) < count:
        try:
            items.append(queue.get(timeout=max(0.1, deadline - time.monotonic())))
        except queue_module.Empty:
            break
    return items


def run_checked(
    cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path, timeout: float
) -> None:
    """Run a short command to completion (bounded); raise with its output tail if it fails."""
    with log.open("wb") as out:
        result = subprocess.run(  # noqa: S603 - fixed argv built by the harness
            list(cmd), **_child(env, cwd, out), timeout=timeout, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {result.returncode}:\n{tail(log)}")


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until it is true; fail early if ``proc`` exits, and after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            detail = tail(log) if log is not None else ""
            raise RuntimeError(f"{what}: process exited with {proc.returncode}\n{detail}")
        if time.monotonic() > deadline:
            detail = tail(log) if log is not None else ""
            raise RuntimeError(f"{what}: not ready after {timeout:g} s\n{detail}")
        time.sleep(0.05)


def wait_for_line(
    proc: subprocess.Popen[bytes], log: Path, pattern: str, *, timeout: float, what: str
) -> re.Match[str]:
    """Wait until ``log`` has a line matching ``pattern``; return the match."""
    regex = re.compile(pattern)
    found: list[re.Match[str]] = []

    def check() -> bool:
        match = regex.search(log.read_text(errors="replace")) if log.exists() else None
        if match is not None:
            found.append(match)
        return match is not None

    wait_until(check, timeout=timeout, what=what, proc=proc, log=log)
    return found[0]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    # After "pid (comm) ", field 3 (state) is index 0: utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a process, in MiB."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    """Resident set size (VmRSS) of a process now, in MiB."""
    return _status_mb(pid, "VmRSS")


def open_files(pid: int) -> int:
    """How many files (sockets included) a process has open now."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def tcp_connections_to(pids: Sequence[int], port: int) -> int:
    """Established TCP connections that the processes ``pids`` hold to ``port`` (any
    address), from their open files and /proc/net/tcp{,6}."""
    inodes = set()
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):  # closed meanwhile
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):  # no IPv6
            for line in Path(table).read_text().splitlines()[1:]:
                # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                established = fields[3] == "01"
                count += remote_port == port and established and fields[9] in inodes
    return count


def nofile_limit(pid: int) -> int:
    """A running process's soft limit on open files, from /proc/<pid>/limits (-1: none)."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return -1 if soft == "unlimited" else int(soft)
    return -1


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy / CLK_TCK, (busy + idle + iowait) / CLK_TCK
