"""Coprocess async twins."""

from __future__ import annotations

import asyncio
import sys

import pytest

from unixipc import Coprocess


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_request_async_with_add2(cpeer):
    async def main():
        co = Coprocess([cpeer("co_add2")])
        answers = [await co.request_async(f"{i} 1", timeout=10) for i in range(200)]
        bad = await co.request_async("x", timeout=10)
        status = await co.close_async(timeout=10)
        return answers, bad, status
    answers, bad, status = run(main())
    assert answers == [f"{i + 1}\n".encode() for i in range(200)]
    assert bad == b"invalid parameter.\n"
    assert status == 0


def test_request_async_timeout_on_a_buffering_filter():
    async def main():
        co = Coprocess(["awk", "{print $1+$2}"])
        with pytest.raises(TimeoutError):
            await co.request_async("1 2", timeout=0.3)
        co.close_input()
        line = await co.readline_async(timeout=10)
        return line, await co.close_async(timeout=10)
    assert run(main()) == (b"3\n", 0)


def test_no_deadlock_async():
    script = ("import sys\n"
              "sys.stdout.buffer.write(b'o' * (1 << 20) + b'\\n'); sys.stdout.flush()\n"
              "data = sys.stdin.buffer.read()\n"
              "sys.stdout.buffer.write(b'%d\\n' % len(data))\n")

    async def main():
        co = Coprocess([sys.executable, "-c", script])
        await co.send_async(b"i" * (1 << 20), timeout=30)
        co.close_input()
        first = await co.readline_async(timeout=30)
        second = await co.readline_async(timeout=30)
        return len(first), second, await co.close_async(timeout=30)
    assert run(main()) == ((1 << 20) + 1, b"1048576\n", 0)


def test_cancelled_readline_async_loses_nothing():
    async def main():
        co = Coprocess(["sh", "-c", "read x; sleep 0.2; echo $x; read y; echo $y"])
        await co.send_async("first\n")
        task = asyncio.ensure_future(co.readline_async())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        line = await co.readline_async(timeout=10)
        line2 = await co.request_async("second", timeout=10)
        return line, line2, await co.close_async(timeout=10)
    assert run(main()) == (b"first\n", b"second\n", 0)


def test_pty_request_async_and_eof():
    async def main():
        co = Coprocess(["awk", "{print $1*2}"], pty=True)
        r = await co.request_async("21", timeout=10)
        await co.close_async(timeout=10)
        return r
    assert run(main()) == b"42\n"


def test_send_async_to_a_pty_child_that_exited_is_broken_pipe():
    import os

    async def main():
        co = Coprocess(["sh", "-c", "echo bye"], pty=True)
        assert await co.readline_async(timeout=10) == b"bye\n"
        os.waitid(os.P_PID, co.pid, os.WEXITED | os.WNOWAIT)
        try:
            with pytest.raises(BrokenPipeError):
                await co.send_async(b"x" * 200_000, timeout=10)
        finally:
            await co.close_async(timeout=10)
    run(main(), timeout=8)


def test_close_async_does_not_wait_for_a_grandchild_holding_stdout():
    import os
    import signal
    import time

    async def main():
        co = Coprocess(["sh", "-c", "sleep 20 & echo $!; exit 5"])
        grandchild = int(await co.readline_async(timeout=10))
        try:
            t0 = time.monotonic()
            assert await co.close_async(timeout=10) == 5
            assert time.monotonic() - t0 < 5
        finally:
            os.kill(grandchild, signal.SIGKILL)
    run(main())


def test_async_twins_take_block_false():
    async def main():
        # the child reads nothing until told: a large send cannot all go
        co = Coprocess(["sh", "-c", "read go; cat"])
        with pytest.raises(BlockingIOError):
            await co.readline_async(block=False)
        with pytest.raises(BlockingIOError):
            await co.read_async(block=False)
        with pytest.raises(BlockingIOError):
            await co.send_async(b"go\n" + b"x" * (1 << 20), block=False)
        queued = len(co._out)  # the rest stays queued, as for the blocking send
        await co.send_async(b"\nend\n", timeout=30)
        lines = []
        while not lines or lines[-1] != b"end\n":
            lines.append(await co.readline_async(timeout=30))
        co.close_input()
        return queued, b"".join(lines), await co.close_async(timeout=30)
    queued, out, status = run(main())
    assert queued > 0
    assert out == b"x" * (1 << 20) + b"\nend\n"
    assert status == 0


def test_request_async_block_false_and_timeout():
    async def main():
        co = Coprocess(["sh", "-c", "while read x; do sleep 0.2; echo $x; done"])
        with pytest.raises(BlockingIOError):
            await co.request_async("a", block=False)  # sent; the reply comes later
        late = await co.readline_async(timeout=10)
        with pytest.raises(TimeoutError):
            await co.request_async("b", timeout=0.05)
        late2 = await co.readline_async(timeout=10)
        co.close_input()
        return late, late2, await co.close_async(timeout=10)
    assert run(main()) == (b"a\n", b"b\n", 0)


def test_coprocess_async_twins_refuse_bad_timeouts():
    async def main():
        co = Coprocess(["cat"])
        try:
            for call in (lambda: co.readline_async(timeout=-1),
                         lambda: co.read_async(timeout=True),
                         lambda: co.send_async(b"x\n", timeout="1"),
                         lambda: co.request_async("x", block=False, timeout=-2)):
                with pytest.raises((TypeError, ValueError)):
                    await call()
            assert not co._out  # nothing was queued by a refused call
        finally:
            co.close_input()
            await co.close_async(timeout=10)
    run(main())
