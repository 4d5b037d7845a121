"""The async twins: waiting off the event loop, cancellation losing nothing."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from unixipc import MessageQueue
from support import Child, run_while_ticking


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "unixipc-msg-wait"]


def _no_workers_left() -> None:
    deadline = time.monotonic() + 5
    while _workers():
        assert time.monotonic() < deadline, "a worker thread is still waiting"
        time.sleep(0.01)


def test_receive_async_takes_a_queued_message_at_once(mq):
    mq.send(b"ready", 4)
    assert asyncio.run(mq.receive_async()) == (4, b"ready")
    assert not _workers()


def test_receive_async_waits_off_the_loop(mq):
    def sender(msqid: int) -> None:
        time.sleep(0.3)
        MessageQueue.from_id(msqid).send(b"late", 2)

    c = Child(sender, mq.id)
    try:
        msg, ticks = run_while_ticking(lambda: mq.receive_async(2, timeout=10))
        c.result()
    finally:
        c.close()
    assert msg == (2, b"late")
    assert ticks >= 10  # the loop kept running while receive_async waited
    _no_workers_left()


def test_receive_async_timeout(mq):
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(mq.receive_async(timeout=0.2))
    assert 0.19 <= time.monotonic() - t0 < 2
    with pytest.raises(BlockingIOError):
        asyncio.run(mq.receive_async(block=False))
    with pytest.raises(ValueError):
        asyncio.run(mq.receive_async(-1, exclude=True))
    _no_workers_left()


def test_cancelled_receive_async_takes_nothing(mq):
    async def main() -> None:
        task = asyncio.create_task(mq.receive_async())
        await asyncio.sleep(0.1)
        assert _workers()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    _no_workers_left()
    mq.send(b"after", 1)
    assert mq.receive(block=False) == (1, b"after")  # nobody else took it


def test_wait_for_timeout_loses_nothing(mq):
    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(mq.receive_async(), 0.1)

    asyncio.run(main())
    _no_workers_left()
    mq.send(b"x")
    assert mq.stat().message_count == 1


def test_cancellation_racing_with_messages_loses_none(mq):
    """Messages sent at random moments around cancellations: every message
    ends up either returned by receive_async or still on the queue."""
    sent = 0
    received: list[bytes] = []

    async def main() -> None:
        nonlocal sent
        for i in range(60):
            task = asyncio.create_task(mq.receive_async())
            await asyncio.sleep(random.uniform(0, 0.004))
            delay = random.uniform(0, 0.004)
            threading.Timer(delay, mq.send, (str(i).encode(),)).start()
            sent += 1
            await asyncio.sleep(random.uniform(0, 0.004))
            task.cancel()
            try:
                received.append((await task).data)
            except asyncio.CancelledError:
                pass

    asyncio.run(main())
    time.sleep(0.05)  # the last timers
    _no_workers_left()
    left = [m.data for m in mq.receive_many(1000, block=False)] if mq.stat().message_count else []
    assert sorted(received + left, key=int) == [str(i).encode() for i in range(sent)]


def test_send_async_waits_for_room_and_can_be_cancelled(mq):
    mq.set(max_bytes=8)
    mq.send(b"12345678")

    async def cancelled_send() -> None:
        task = asyncio.create_task(mq.send_async(b"more"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled_send())
    _no_workers_left()
    assert mq.stat().message_count == 1  # not sent

    def drain_later(msqid: int) -> bytes:
        time.sleep(0.2)
        return MessageQueue.from_id(msqid).receive().data

    c = Child(drain_later, mq.id)
    try:
        asyncio.run(mq.send_async(b"more", 3, timeout=10))
        assert c.result() == b"12345678"
    finally:
        c.close()
    assert mq.receive() == (3, b"more")
    mq.send(b"full-now")
    with pytest.raises(TimeoutError):
        asyncio.run(mq.send_async(b"x" * 8, timeout=0.1))
    with pytest.raises(BlockingIOError):
        asyncio.run(mq.send_async(b"x", block=False))
    _no_workers_left()
    assert mq.stat().message_count == 1
