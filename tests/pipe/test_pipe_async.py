"""Async twins: read_async/write_async wait in the event loop; cancellation
loses no data; FIFO opens in a worker with no descriptor leaked."""

from __future__ import annotations

import asyncio
import os

import pytest

from support import Child
from unixipc import Fifo, Pipe


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_read_async_waits_for_data():
    async def main():
        with Pipe() as p:
            loop = asyncio.get_running_loop()
            loop.call_later(0.1, p.writer.write, b"later")
            return await p.reader.read_async(100, timeout=5)
    assert run(main()) == b"later"


def test_read_async_eof_and_readall():
    async def main():
        p = Pipe()
        p.writer.write(b"abc")
        p.writer.close()
        data = await p.reader.read_async()
        tail = await p.reader.read_async(10)
        p.close()
        return data, tail
    assert run(main()) == (b"abc", b"")


def test_cancelled_read_async_loses_no_data():
    async def main():
        with Pipe() as p:
            task = asyncio.ensure_future(p.reader.read_async(10))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            p.writer.write(b"kept")
            return await p.reader.read_async(10, timeout=5)
    assert run(main()) == b"kept"


def test_write_async_waits_for_room():
    async def main():
        with Pipe() as p:
            big = b"b" * 300_000
            writer = asyncio.ensure_future(p.writer.write_async(big, timeout=10))
            got = bytearray()
            while len(got) < len(big):
                got += await p.reader.read_async(65536, timeout=10)
            return await writer, bytes(got) == big
    assert run(main()) == (300_000, True)


def test_write_async_timeout_and_broken_pipe():
    async def main():
        p = Pipe()
        with pytest.raises(TimeoutError) as info:
            await p.writer.write_async(b"w" * 200_000, timeout=0.2)
        assert info.value.characters_written == 65536
        p.reader.close()
        with pytest.raises(BrokenPipeError):
            await p.writer.write_async(b"x")
        p.close()
    run(main())


def _write_to_fifo(path: str) -> int:
    w = Fifo(path).open_writer(timeout=10)
    n = w.write(b"async fifo")
    w.close()
    return n


def test_fifo_open_reader_async(tmp_path):
    async def main(fifo):
        child = Child(_write_to_fifo, fifo.path)
        try:
            r = await fifo.open_reader_async(timeout=10)
            data = await r.read_async(timeout=10)
            r.close()
            assert child.result() == 10
            return data
        finally:
            child.close()
    with Fifo(tmp_path / "f", create=True) as fifo:
        assert run(main(fifo)) == b"async fifo"


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_fifo_open_async_timeout_leaks_nothing(tmp_path):
    async def main(fifo):
        before = _fds()
        with pytest.raises(TimeoutError):
            await fifo.open_writer_async(timeout=0.2)
        return before, _fds()

    with Fifo(tmp_path / "f", create=True) as fifo:
        before, after = run(main(fifo))
    assert before == after


def test_cancelled_fifo_open_closes_the_late_descriptor(tmp_path):
    async def main(fifo):
        before = _fds()
        task = asyncio.ensure_future(fifo.open_reader_async(timeout=10))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # A writer comes after the cancel: the worker's open succeeds and
        # its descriptor must be closed, not leaked.
        w = await fifo.open_writer_async(timeout=10)
        w.close()
        for _ in range(100):
            if _fds() == before:
                break
            await asyncio.sleep(0.02)
        return before, _fds()

    with Fifo(tmp_path / "f", create=True) as fifo:
        before, after = run(main(fifo))
    assert before == after


def test_read_async_block_false_is_one_attempt():
    async def main():
        with Pipe() as p:
            with pytest.raises(BlockingIOError):
                await p.reader.read_async(10, block=False)
            p.writer.write(b"abc")
            got = await p.reader.read_async(10, block=False)
            p.writer.close()
            end = await p.reader.read_async(10, block=False)
            return got, end
    assert run(main()) == (b"abc", b"")


def test_write_async_block_false_writes_what_fits():
    async def main():
        with Pipe() as p:
            cap = p.capacity
            n = await p.writer.write_async(b"x" * (cap + 4096), block=False)
            with pytest.raises(BlockingIOError):
                await p.writer.write_async(b"more", block=False)
            return cap, n
    cap, n = run(main())
    assert 0 < n <= cap


def test_async_twins_refuse_bad_timeouts_before_any_io():
    async def main():
        with Pipe() as p:
            p.writer.write(b"abc")
            with pytest.raises(ValueError):
                await p.reader.read_async(10, block=False, timeout=-1)
            with pytest.raises(TypeError):
                await p.writer.write_async(b"x", timeout="1")
            return p.reader.read(10)
    assert run(main()) == b"abc"


def test_fifo_open_async_block_false(tmp_path):
    async def main():
        fifo = Fifo(tmp_path / "f", create=True)
        with pytest.raises(BlockingIOError):
            await fifo.open_writer_async(block=False)  # no reader yet
        reader = await fifo.open_reader_async(block=False)  # always succeeds
        writer = await fifo.open_writer_async(block=False)
        try:
            assert not writer.nonblocking  # a blocking end, unlike nonblock=True
            writer.write(b"hi")
            return reader.read(2)
        finally:
            writer.close()
            reader.close()
    assert run(main()) == b"hi"


def test_fifo_open_block_false(tmp_path):
    fifo = Fifo(tmp_path / "f", create=True)
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(BlockingIOError):
        fifo.open_writer(block=False)
    assert len(os.listdir("/proc/self/fd")) == before
    with fifo.open_reader(block=False) as r, fifo.open_writer(block=False) as w:
        w.write(b"ok")
        assert r.read(2) == b"ok"
