"""Running a simulator: on the current loop, until a signal, or in a background thread.

Tests and scripts use ``run_in_thread`` (a context manager with its own event loop, so a
synchronous test can talk to it); ``manage.py llm_simulator`` uses ``run_until_stopped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from agents.simulator.config import SimulatorConfig, client_host
from agents.simulator.server import LLMSimulator


async def serve(config: SimulatorConfig | None = None) -> asyncio.Server:
    """Start a simulator on the running loop and return its listening server.

    For access to stats and a shutdown that also closes keep-alive connections, use
    ``LLMSimulator`` directly.
    """
    return await LLMSimulator(config).start()


async def run_until_stopped(
    config: SimulatorConfig,
    *,
    ready: Callable[[LLMSimulator], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set), then shut down cleanly."""
    simulator = LLMSimulator(config)
    await simulator.start()
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Signal handlers only work in the main thread (and not on Windows); elsewhere the
        # caller stops us through ``stop``.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        if ready is not None:
            ready(simulator)
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await simulator.close()


class SimulatorThread:
    """A simulator on its own event loop in a daemon thread; a context manager.

    Example::

        with run_in_thread(SimulatorConfig(port=0, ttft_ms=5)) as sim:
            sim.base_url  # "http://127.0.0.1:PORT/v1"
            sim.stats()  # same document as GET /sim/stats
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig(port=0)
        self.simulator: LLMSimulator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> SimulatorThread:
        """Start serving (idempotent) and block until the port is bound."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="llm-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("LLM simulator did not start within 10 s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"LLM simulator failed to start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        simulator = LLMSimulator(self.config)
        try:
            loop.run_until_complete(simulator.start())
        except BaseException as exc:  # reported to start(), which raises it in the caller
            self._error = exc
            loop.close()
            self._ready.set()
            return
        self.simulator = simulator
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(simulator.close())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Shut the server down, closing all connections, and join the thread."""
        if self._thread is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def _call(self, func: Callable[[], Any]) -> Any:
        """Run ``func`` on the simulator's loop (its state is not thread-safe) and return."""
        if self._loop is None:
            raise RuntimeError("simulator is not running")

        async def call() -> Any:
            return func()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    @property
    def port(self) -> int:
        if self.simulator is None:
            raise RuntimeError("simulator is not running")
        return self.simulator.port

    @property
    def url(self) -> str:
        """Root URL without ``/v1``, e.g. for ``/sim/stats``."""
        return f"{client_host(self.config.host)}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI ``base_url``: ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    def stats(self) -> dict[str, Any]:
        """Same document as ``GET /sim/stats``."""
        simulator = self.simulator
        if simulator is None:
            raise RuntimeError("simulator is not running")
        return self._call(simulator.stats.snapshot)

    def reset_stats(self) -> None:
        """Same as ``POST /sim/stats/reset``."""
        simulator = self.simulator
        if simulator is None:
            raise RuntimeError("simulator is not running")
        self._call(simulator.stats.reset)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_in_thread(config: SimulatorConfig | None = None) -> SimulatorThread:
    """Start a simulator in a background thread; use as ``with run_in_thread(cfg) as sim:``.

    ``config`` defaults to a free port (``port=0``) with the default schedule.
    """
    return SimulatorThread(config).start()
