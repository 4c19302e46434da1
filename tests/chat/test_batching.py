"""Group commits from the event loop, on a clock the tests own."""

from __future__ import annotations

import asyncio

from chat.batching import Batcher


class FakeClock:
    """Time moves only when the test moves it (``advance``); sleepers yield until then."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        deadline = self.now + seconds
        while self.now < deadline:
            await asyncio.sleep(0)

    async def advance(self, seconds: float, *, step: float = 0.001) -> None:
        """Move time on by ``seconds``, a pass of the event loop per ``step``."""
        for _ in range(round(seconds / step)):
            self.now += step
            await asyncio.sleep(0)


def recording(batches: list[list[int]], gate: asyncio.Event | None = None) -> object:
    async def work(items: list[int]) -> list[int]:
        batches.append(items)
        if gate is not None:
            await gate.wait()
        return [item * 10 for item in items]

    return work


async def test_a_burst_spread_over_loop_passes_is_taken_as_one_batch() -> None:
    batches: list[list[int]] = []
    batcher: Batcher[int, int] = Batcher(
        recording(batches),  # type: ignore[arg-type]
        clock=FakeClock(),  # (no wall time: only loop passes count here)
    )

    async def submit_later(item: int, passes: int) -> int:
        for _ in range(passes):
            await asyncio.sleep(0)
        return await batcher.submit(item)

    results = await asyncio.gather(*(submit_later(i, i % 3) for i in range(6)))
    assert results == [0, 10, 20, 30, 40, 50]
    assert batches == [[0, 3, 1, 4, 2, 5]]


async def test_what_arrives_while_a_batch_runs_goes_in_the_next() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()
    batcher: Batcher[int, int] = Batcher(recording(batches, gate))  # type: ignore[arg-type]
    first = asyncio.ensure_future(batcher.submit(1))
    while not batches:
        await asyncio.sleep(0)
    later = [asyncio.ensure_future(batcher.submit(n)) for n in (2, 3)]
    gate.set()
    assert await asyncio.gather(first, *later) == [10, 20, 30]
    assert batches == [[1], [2, 3]]


async def test_a_failing_batch_fails_each_of_its_submitters() -> None:
    async def work(items: list[int]) -> list[int]:
        raise RuntimeError("database down")

    batcher: Batcher[int, int] = Batcher(work)
    results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_one_items_failure_reaches_only_its_submitter() -> None:
    async def work(items: list[int]) -> list[int | Exception]:
        return [ValueError(item) if item == 2 else item for item in items]

    batcher: Batcher[int, int] = Batcher(work)
    results = await asyncio.gather(*(batcher.submit(n) for n in (1, 2, 3)), return_exceptions=True)
    assert results[0] == 1 and results[2] == 3 and isinstance(results[1], ValueError)


async def test_a_trickle_is_one_batch_until_it_pauses() -> None:
    clock = FakeClock()
    batches: list[list[int]] = []
    batcher: Batcher[int, int] = Batcher(
        recording(batches),  # type: ignore[arg-type]
        quiet=0.03,
        max_settle=1.0,
        clock=clock,
    )
    tasks = [asyncio.ensure_future(batcher.submit(0))]
    for item in (1, 2, 3):  # 10 ms apart: within the quiet moment
        await clock.advance(0.01)
        tasks.append(asyncio.ensure_future(batcher.submit(item)))
    await clock.advance(0.1)
    assert await asyncio.gather(*tasks) == [0, 10, 20, 30]
    assert batches == [[0, 1, 2, 3]]
    last = asyncio.ensure_future(batcher.submit(4))  # after a pause: a batch of its own
    await clock.advance(0.1)
    assert await last == 40
    assert batches == [[0, 1, 2, 3], [4]]


async def test_a_trickle_that_never_pauses_is_cut_at_the_longest_wait() -> None:
    clock = FakeClock()
    batches: list[list[int]] = []
    batcher: Batcher[int, int] = Batcher(
        recording(batches),  # type: ignore[arg-type]
        quiet=0.03,
        max_settle=0.15,
        clock=clock,
    )
    tasks = []
    for item in range(30):  # one every 10 ms, for 300 ms
        tasks.append(asyncio.ensure_future(batcher.submit(item)))
        await clock.advance(0.01)
    await clock.advance(0.5)
    await asyncio.gather(*tasks)
    assert len(batches) >= 2 and sorted(sum(batches, [])) == list(range(30))
    assert 15 <= len(batches[0]) <= 17  # cut once 150 ms had passed


async def test_a_long_pass_that_adds_nothing_yet_does_not_end_a_burst() -> None:
    """Frames read in one long pass reach ``submit`` a few passes later."""
    clock = FakeClock()
    batches: list[list[int]] = []
    batcher: Batcher[int, int] = Batcher(
        recording(batches),  # type: ignore[arg-type]
        quiet=0.001,
        clock=clock,
    )
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0)
    clock.now += 0.005  # a pass spent reading sockets, longer than the quiet moment

    async def read_then_submit(item: int) -> int:
        await asyncio.sleep(0)  # the consumer wakes a pass or two after its frame was read
        await asyncio.sleep(0)
        return await batcher.submit(item)

    later = [asyncio.ensure_future(read_then_submit(item)) for item in (1, 2, 3)]
    await clock.advance(0.01)
    assert await asyncio.gather(first, *later) == [0, 10, 20, 30]
    assert batches == [[0, 1, 2, 3]]
