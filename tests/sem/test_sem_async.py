"""Async twins of semaphore waits: no blocking of the loop, no lost decrement."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from support import Child, run_while_ticking


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_acquire_async_takes_at_once_when_available(make_set):
    sems = make_set(initial=2)
    run(sems[0].acquire_async(undo=False))
    assert sems[0].value == 1


def test_acquire_async_waits_without_blocking_the_loop(make_set):
    sems = make_set(initial=0)

    async def acquire():
        child = Child(lambda: (time.sleep(0.3), sems[0].release(undo=False)))
        await sems[0].acquire_async(undo=False, timeout=10)
        child.result(timeout=10)

    _, ticks = run_while_ticking(acquire)
    assert ticks >= 10
    assert sems[0].value == 0


def test_op_async_is_atomic(make_set):
    sems = make_set(count=2, initial=[1, 0])

    async def main():
        task = asyncio.create_task(sems.op_async((0, -1), (1, -1), timeout=10))
        await asyncio.sleep(0.1)
        assert sems.values == [1, 0]  # nothing taken while waiting
        sems[1].release(undo=False)
        await task

    run(main())
    assert sems.values == [0, 0]


def test_async_timeout(make_set):
    sems = make_set(initial=0)
    with pytest.raises(TimeoutError):
        run(sems[0].acquire_async(timeout=0.2))
    with pytest.raises(BlockingIOError):
        run(sems[0].acquire_async(block=False))
    with pytest.raises(TimeoutError):
        run(sems[0].acquire_async(timeout=0))


def test_cancelled_wait_takes_nothing(make_set):
    sems = make_set(initial=0)

    async def main():
        task = asyncio.create_task(sems[0].acquire_async(undo=False))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    sems[0].release(undo=False)
    time.sleep(0.05)
    assert sems[0].value == 1  # the cancelled waiter did not consume it
    assert sems[0].ncount == 0


def test_cancellation_racing_releases_loses_nothing(make_set):
    sems = make_set(initial=0)
    rounds = 40
    rng = random.Random(7)

    async def main():
        taken = 0
        for _ in range(rounds):
            task = asyncio.create_task(sems[0].acquire_async(undo=False, timeout=5))
            delay = rng.random() * 0.004
            releaser = threading.Timer(delay, lambda: sems[0].release(undo=False))
            releaser.start()
            await asyncio.sleep(rng.random() * 0.004)
            task.cancel()
            try:
                await task
                taken += 1
            except asyncio.CancelledError:
                pass
            releaser.join()
        return taken

    taken = run(main(), timeout=60)
    # every release is either taken by a completed wait or still there
    assert taken + sems[0].value == rounds


def test_wait_zero_async(make_set):
    sems = make_set(initial=1)

    async def main():
        task = asyncio.create_task(sems[0].wait_zero_async(timeout=10))
        await asyncio.sleep(0.05)
        assert not task.done()
        sems[0].acquire(undo=False)
        await task

    run(main())
