"""ShmChannel's async twins: no thread per waiting call, nothing lost on
cancellation, the sync calls' errors. Senders are real (forked) processes;
every wait is bounded."""

from __future__ import annotations

import asyncio
import errno
import os
import random
import signal
import threading
import time
from typing import Iterator

import pytest

from unixipc import ChannelClosedError, ShmChannel


@pytest.fixture
def ch() -> Iterator[ShmChannel]:
    c = ShmChannel(capacity=1 << 16)
    yield c
    c.close()


class Sender:
    """A forked process that sends `count` numbered messages once told to
    (a byte on a pipe), then exits."""

    def __init__(self, ch: ShmChannel, start: int, count: int, delay: float = 0.0) -> None:
        r, w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                os.close(w)
                os.read(r, 1)
                ch.close_receiving()
                for i in range(start, start + count):
                    ch.send(i.to_bytes(4, "little"), timeout=20)
                    if delay:
                        time.sleep(delay)
                code = 0
            finally:
                os._exit(code)
        os.close(r)
        self._go = w

    def go(self) -> None:
        os.write(self._go, b"g")
        os.close(self._go)

    def join(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.01)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError("the sender did not finish")


def _n(data: bytes) -> int:
    return int.from_bytes(data, "little")


def test_a_thousand_waiters_share_a_helper_thread_and_each_gets_one_message(ch):
    sender = Sender(ch, 0, 1000)
    before = threading.active_count()

    async def main() -> tuple[list[bytes], int]:
        tasks = [asyncio.create_task(ch.receive_async(timeout=30)) for _ in range(1000)]
        await asyncio.sleep(0.2)
        during = threading.active_count()
        sender.go()
        return await asyncio.wait_for(asyncio.gather(*tasks), 40), during

    got, during = asyncio.run(main())
    assert sender.join() == 0
    assert during <= before + 2
    assert sorted(_n(m) for m in got) == list(range(1000))  # exactly once
    assert ch._state()["rx_waiters"] == 0


def test_cancelling_waiters_while_messages_flow_loses_none(ch):
    n = 400
    sender = Sender(ch, 0, n, delay=0.0005)
    rng = random.Random(11)

    async def main() -> list[int]:
        tasks = [asyncio.create_task(ch.receive_async(timeout=30)) for _ in range(n)]
        await asyncio.sleep(0.05)
        sender.go()
        victims = rng.sample(tasks, n // 2)
        for t in victims:
            await asyncio.sleep(rng.random() * 0.002)
            t.cancel()
        got = []
        for t in tasks:
            try:
                got.append(_n(await t))
            except asyncio.CancelledError:
                pass
        while len(got) < n:  # what the cancelled ones left behind
            got.append(_n(await ch.receive_async(timeout=20)))
        with pytest.raises(BlockingIOError):
            await ch.receive_async(block=False)
        return got

    got = asyncio.run(asyncio.wait_for(main(), 50))
    assert sender.join() == 0
    assert sorted(got) == list(range(n))


def test_send_async_on_a_full_ring_wakes_when_space_frees(ch):
    big = b"x" * (ch.max_message_size // 2)
    late = b"L" * len(big)
    sent = 0
    while True:
        try:
            ch.send(big, block=False)
            sent += 1
        except BlockingIOError:
            break

    async def main() -> float:
        task = asyncio.create_task(ch.send_async(late, timeout=10))
        await asyncio.sleep(0.2)
        assert not task.done()
        t0 = time.monotonic()
        ch.receive()  # frees the oldest record
        await asyncio.wait_for(task, 5)
        return time.monotonic() - t0

    assert asyncio.run(main()) < 1.0
    assert ch._state()["tx_waiters"] == 0
    got = [ch.receive(timeout=5) for _ in range(sent)]
    assert got[-1] == late


def test_timeouts_and_block_false(ch):
    async def main() -> None:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            await ch.receive_async(timeout=0.2)
        assert info.value.errno == errno.ETIMEDOUT
        assert 0.18 <= time.monotonic() - t0 < 2
        with pytest.raises(TimeoutError):
            await ch.receive_async(timeout=0)
        with pytest.raises(BlockingIOError):
            await ch.receive_async(block=False)
        with pytest.raises(ValueError):
            await ch.receive_async(timeout=-1)
        with pytest.raises(TypeError):
            await ch.send_async(b"x", timeout="soon")
        await ch.send_async(b"ready", block=False)
        assert await ch.receive_async(block=False) == b"ready"
        while True:
            try:
                ch.send(b"y" * 1000, block=False)
            except BlockingIOError:
                break
        with pytest.raises(BlockingIOError):
            await ch.send_async(b"z" * 1000, block=False)
        with pytest.raises(TimeoutError) as info:
            await ch.send_async(b"z" * 1000, timeout=0.1)
        assert info.value.errno == errno.ETIMEDOUT

    asyncio.run(asyncio.wait_for(main(), 20))
    state = ch._state()
    assert state["rx_waiters"] == state["tx_waiters"] == 0


def test_the_helper_thread_stops_when_no_waiter_remains(ch):
    async def main() -> None:
        task = asyncio.create_task(ch.receive_async(timeout=10))
        await asyncio.sleep(0.1)
        assert ch._watcher(0).threads() == 1
        ch.send(b"m")
        assert await asyncio.wait_for(task, 5) == b"m"
        deadline = time.monotonic() + 2
        while ch._watcher(0).threads() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert ch._watcher(0).threads() == 0

    asyncio.run(main())


def test_end_of_stream_and_broken_pipe_wake_async_waiters():
    with ShmChannel(capacity=4096) as c:
        async def main() -> None:
            rx = asyncio.create_task(c.receive_async(timeout=10))
            await asyncio.sleep(0.1)
            c.close_sending()
            with pytest.raises(ChannelClosedError):
                await asyncio.wait_for(rx, 5)

        asyncio.run(main())
    with ShmChannel(capacity=4096) as c:
        while True:
            try:
                c.send(b"y" * 100, block=False)
            except BlockingIOError:
                break

        async def main2() -> None:
            tx = asyncio.create_task(c.send_async(b"z", timeout=10))
            await asyncio.sleep(0.1)
            c.close_receiving()
            with pytest.raises(BrokenPipeError):
                await asyncio.wait_for(tx, 5)

        asyncio.run(main2())


def test_close_while_async_waiters_sleep():
    c = ShmChannel(capacity=4096)

    async def main() -> None:
        tasks = [asyncio.create_task(c.receive_async(timeout=10)) for _ in range(10)]
        await asyncio.sleep(0.1)
        c.close()
        for t in tasks:
            with pytest.raises(ValueError):
                await asyncio.wait_for(t, 5)

    asyncio.run(main())


def test_an_idle_loop_with_waiters_burns_almost_no_cpu(ch):
    async def main() -> float:
        tasks = [asyncio.create_task(ch.receive_async(timeout=10)) for _ in range(100)]
        await asyncio.sleep(0.1)
        t0 = time.process_time()
        await asyncio.sleep(1.0)
        used = time.process_time() - t0
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return used

    assert asyncio.run(main()) < 0.1  # a polling loop would use most of the second
    assert ch._state()["rx_waiters"] == 0


def test_a_fork_child_waits_with_its_own_helper(ch):
    async def park() -> None:
        task = asyncio.create_task(ch.receive_async(timeout=10))
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(park())  # the parent made a watcher
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            async def child() -> bytes:
                return await ch.receive_async(timeout=10)
            code = 0 if asyncio.run(child()) == b"for the child" else 2
        finally:
            os._exit(code)
    time.sleep(0.2)
    ch.send(b"for the child")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("the child did not receive")
    assert os.waitstatus_to_exitcode(status) == 0
