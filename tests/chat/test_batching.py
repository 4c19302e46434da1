"""Group commits from the event loop."""

from __future__ import annotations

import asyncio

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
