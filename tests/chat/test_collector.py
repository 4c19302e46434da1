"""The collector kept off while a burst of sends reaches the model."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator

import pytest

from chat.live import collector


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_overlapping_holders_keep_the_collector_off_until_the_last_leaves() -> None:
    first, second = collector.gc_deferred(), collector.gc_deferred()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_the_collector_comes_back_on_after_an_error() -> None:
    with pytest.raises(RuntimeError), collector.gc_deferred():
        raise RuntimeError("boom")
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_a_deferral_never_outlasts_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "GC_MAX_DEFER", 0.0)
    held = collector.gc_deferred()
    held.__enter__()
    with collector.gc_deferred():
        time.sleep(0.001)
    assert gc.isenabled()  # the first holder is still inside
    held.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with collector.gc_deferred():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


@pytest.mark.usefixtures("collector_on")
async def test_a_stuck_holder_does_not_keep_the_collector_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector, "GC_MAX_DEFER", 0.01)
    with collector.gc_deferred():
        assert not gc.isenabled()
        await asyncio.sleep(0.05)  # no holder leaves meanwhile
        assert gc.isenabled()
    assert gc.isenabled()
