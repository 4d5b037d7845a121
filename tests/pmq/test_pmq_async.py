"""send_async / receive_async: the event loop waits on the descriptor (no
thread), a child's send ends the wait, cancellation loses nothing, many
waiters share one queue."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from unixipc import posix
from support import Child, run_while_ticking


def _send_later(name: str, data: bytes, prio: int) -> None:
    time.sleep(0.2)
    with posix.MessageQueue(name) as mq:
        mq.send(data, prio)


def test_receive_async_gets_what_a_child_sends_later(make_pmq):
    mq = make_pmq()

    async def receive() -> tuple[posix.Message, int]:
        threads = threading.active_count()
        return await mq.receive_async(timeout=10), threads

    child = Child(_send_later, mq.name, b"later", 4)
    try:
        before = threading.active_count()
        (msg, threads), ticks = run_while_ticking(receive)
        child.result()
    finally:
        child.close()
    assert msg == posix.Message(b"later", 4)
    assert ticks > 0
    assert threads == before


def test_send_async_waits_for_room(make_pmq):
    mq = make_pmq(max_messages=1, max_message_size=8)
    mq.send(b"full")

    async def main() -> None:
        task = asyncio.ensure_future(mq.send_async(b"next", 2, timeout=10))
        await asyncio.sleep(0.05)
        assert not task.done()
        assert mq.receive().data == b"full"
        await task

    asyncio.run(main())
    assert tuple(mq.receive(block=False)) == (b"next", 2)


def test_async_timeouts_and_non_blocking(make_pmq):
    mq = make_pmq()

    async def main() -> None:
        with pytest.raises(BlockingIOError):
            await mq.receive_async(block=False)
        before = time.monotonic()
        with pytest.raises(TimeoutError):
            await mq.receive_async(timeout=0.2)
        assert time.monotonic() - before >= 0.2
        with pytest.raises(TimeoutError):
            await mq.receive_async(timeout=0)

    asyncio.run(main())


def test_cancelled_receive_async_loses_nothing(make_pmq):
    mq = make_pmq()

    async def main() -> None:
        task = asyncio.ensure_future(mq.receive_async())
        await asyncio.sleep(0.05)
        mq.send(b"keep")
        task.cancel()  # the message arrived, but the task never ran again
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert mq.receive(block=False).data == b"keep"


def test_two_hundred_waiters_on_one_queue_without_threads(make_pmq):
    mq = make_pmq(max_messages=10, max_message_size=16)

    async def main() -> list[bytes]:
        before = threading.active_count()
        tasks = [asyncio.ensure_future(mq.receive_async(timeout=20)) for _ in range(200)]
        await asyncio.sleep(0.1)
        assert threading.active_count() == before
        for i in range(200):
            await mq.send_async(b"%d" % i, timeout=10)
        return [m.data for m in await asyncio.gather(*tasks)]

    got = asyncio.run(main())
    assert sorted(got) == sorted(b"%d" % i for i in range(200))
