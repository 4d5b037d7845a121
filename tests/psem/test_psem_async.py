"""acquire_async: the event loop keeps running, a child's release ends the
wait, cancellation loses no unit."""

from __future__ import annotations

import asyncio
import time

import pytest

from unixipc import posix
from support import Child, run_while_ticking


def _release_later(name: str) -> None:
    time.sleep(0.2)
    with posix.Semaphore(name) as sem:
        sem.release()


def test_acquire_async_ends_when_a_child_releases(make_psem):
    sem = make_psem()

    child = Child(_release_later, sem.name)
    try:
        _, ticks = run_while_ticking(lambda: sem.acquire_async(timeout=10))
        assert ticks > 0  # the loop ran while it waited
        child.result()
    finally:
        child.close()
    assert sem.value == 0


def test_acquire_async_fast_paths(make_psem):
    sem = make_psem(initial=1)
    asyncio.run(sem.acquire_async())
    with pytest.raises(BlockingIOError):
        asyncio.run(sem.acquire_async(block=False))
    with pytest.raises(TimeoutError):
        asyncio.run(sem.acquire_async(timeout=0))
    with pytest.raises(TimeoutError):
        asyncio.run(sem.acquire_async(timeout=0.1))


def test_cancelled_acquire_async_takes_nothing(make_psem):
    sem = make_psem()

    async def main() -> None:
        task = asyncio.ensure_future(sem.acquire_async(timeout=10))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    sem.release()
    assert sem.value == 1  # the cancelled waiter did not take the unit
