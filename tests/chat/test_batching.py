"""Group commits from the event loop."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator

import pytest

from chat import batching
from chat.batching import Batcher


async def test_a_burst_spread_over_loop_passes_is_taken_as_one_batch() -> None:
    batches: list[list[int]] = []

    async def work(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [item * 10 for item in items]

    batcher: Batcher[int, int] = Batcher(work)

    async def submit_later(item: int, passes: int) -> int:
        for _ in range(passes):
            await asyncio.sleep(0)
        return await batcher.submit(item)

    results = await asyncio.gather(*(submit_later(i, i % 3) for i in range(6)))
    assert results == [0, 10, 20, 30, 40, 50]
    assert batches == [[0, 3, 1, 4, 2, 5]]
    # While a batch runs, new submissions queue for the next one.
    first = asyncio.create_task(batcher.submit(7))
    await asyncio.sleep(0.005)
    assert await asyncio.gather(first, batcher.submit(8)) == [70, 80]
    assert batches[1:] == [[7], [8]]


async def test_a_failing_batch_fails_each_of_its_submitters() -> None:
    async def work(items: list[int]) -> list[int]:
        raise RuntimeError("database down")

    batcher: Batcher[int, int] = Batcher(work)
    results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_a_trickle_is_one_batch_until_it_pauses_or_runs_too_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batching, "_MAX_SETTLE", 0.15)  # scaled up, for a steady test
    batches: list[list[int]] = []

    async def work(items: list[int]) -> list[int]:
        batches.append(items)
        return items

    batcher: Batcher[int, int] = Batcher(work, quiet=0.03)

    async def submit_at(item: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return await batcher.submit(item)

    # 0-3 arrive 10 ms apart (one batch); 4 comes after a pause of 80 ms.
    await asyncio.gather(*(submit_at(i, i * 0.01) for i in range(4)), submit_at(4, 0.11))
    assert batches == [[0, 1, 2, 3], [4]]

    # A trickle that never pauses is cut at the longest wait.
    batches.clear()
    await asyncio.gather(*(submit_at(i, i * 0.01) for i in range(30)))
    assert len(batches) >= 2 and sorted(sum(batches, [])) == list(range(30))
    assert 10 <= len(batches[0]) <= 17


async def test_a_long_pass_that_adds_nothing_yet_does_not_end_a_burst() -> None:
    """Frames read in one long pass reach ``submit`` a few passes later."""
    batches: list[list[int]] = []

    async def work(items: list[int]) -> list[int]:
        batches.append(items)
        return items

    batcher: Batcher[int, int] = Batcher(work, quiet=0.001)
    tasks = [asyncio.ensure_future(batcher.submit(0))]

    async def read_then_submit(item: int) -> int:
        await asyncio.sleep(0)  # the consumer wakes a pass or two after its frame was read
        await asyncio.sleep(0)
        return await batcher.submit(item)

    def long_pass() -> None:  # reading a burst of frames: longer than the quiet moment
        time.sleep(0.005)
        tasks.extend(asyncio.ensure_future(read_then_submit(item)) for item in (1, 2, 3))

    asyncio.get_running_loop().call_later(0.0002, long_pass)
    await asyncio.sleep(0.05)
    assert await asyncio.gather(*tasks) == [0, 1, 2, 3]
    assert batches == [[0, 1, 2, 3]]


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_overlapping_holders_keep_the_collector_off_until_the_last_leaves() -> None:
    first, second = batching.gc_deferred(), batching.gc_deferred()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_the_collector_comes_back_on_after_an_error() -> None:
    with pytest.raises(RuntimeError), batching.gc_deferred():
        raise RuntimeError("boom")
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_a_deferral_never_outlasts_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batching, "GC_MAX_DEFER", 0.0)
    held = batching.gc_deferred()
    held.__enter__()
    with batching.gc_deferred():
        time.sleep(0.001)
    assert gc.isenabled()  # the first holder is still inside
    held.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with batching.gc_deferred():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


@pytest.mark.usefixtures("collector_on")
async def test_a_stuck_holder_does_not_keep_the_collector_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batching, "GC_MAX_DEFER", 0.01)
    with batching.gc_deferred():
        assert not gc.isenabled()
        await asyncio.sleep(0.05)  # no holder leaves meanwhile
        assert gc.isenabled()
    assert gc.isenabled()
