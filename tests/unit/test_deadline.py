"""Deadline: the one countdown every Python-side wait uses, and the one
readiness wait (poll for blocking calls, the event loop for async twins)."""

from __future__ import annotations

import asyncio
import math
import os
import time

import pytest

from unixipc._timeouts import Deadline
from unixipc._wait import (wait_readable, wait_readable_async, wait_ready, wait_ready_async,
                           wait_writable, wait_writable_async)


def test_forever_has_no_remaining_and_never_expires():
    d = Deadline(None)
    assert d.forever
    assert d.remaining() is None
    assert not d.expired


def test_remaining_counts_down_and_never_goes_negative():
    d = Deadline(0.05)
    assert not d.forever
    first = d.remaining()
    assert first is not None and 0 < first <= 0.05
    time.sleep(0.06)
    assert d.remaining() == 0.0
    assert d.expired


def test_zero_is_expired_at_once():
    d = Deadline(0)
    assert d.remaining() == 0.0
    assert d.expired


def test_a_long_deadline_is_not_expired():
    d = Deadline(3600)
    assert not d.expired
    left = d.remaining()
    assert left is not None and 3590 < left <= 3600


@pytest.mark.parametrize("bad, exc", [(True, TypeError), ("1", TypeError),
                                      (-0.5, ValueError), (math.nan, ValueError)])
def test_bad_timeouts_are_refused(bad, exc):
    with pytest.raises(exc):
        Deadline(bad)


@pytest.fixture
def pipe_fds():
    r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    yield r, w
    os.close(r)
    os.close(w)


def test_wait_ready_reports_which_descriptors(pipe_fds):
    r, w = pipe_fds
    assert not wait_readable(r, Deadline(0))          # empty: times out at once
    assert wait_writable(w, Deadline(0))
    os.write(w, b"x")
    ready = wait_ready([r], [w], Deadline(5))
    assert ready.readable == {r} and ready.writable == {w}


def test_wait_ready_times_out_empty(pipe_fds):
    r, _ = pipe_fds
    ready = wait_ready([r], [], Deadline(0.05))
    assert not ready and not ready.readable and not ready.writable


def test_wait_ready_counts_hang_up_as_readable():
    r, w = os.pipe2(os.O_CLOEXEC)
    os.close(w)
    try:
        assert wait_readable(r, Deadline(5))  # the next read says end of file
    finally:
        os.close(r)


def test_the_async_wait_finds_the_same(pipe_fds):
    r, w = pipe_fds

    async def main():
        loop = asyncio.get_running_loop()
        assert not await wait_readable_async(r, Deadline(0))
        assert not await wait_readable_async(r, Deadline(0.05))
        loop.call_later(0.05, os.write, w, b"x")
        assert await wait_readable_async(r, Deadline(5))
        ready = await wait_ready_async([r], [w], Deadline(None))
        assert ready.readable == {r} and ready.writable == {w}
        assert await wait_writable_async(w, Deadline(0))
        # nothing stays registered with the loop afterwards
        assert not loop.remove_reader(r) and not loop.remove_writer(w)

    asyncio.run(asyncio.wait_for(main(), 20))


def test_a_cancelled_async_wait_unregisters(pipe_fds):
    r, _ = pipe_fds

    async def main():
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(wait_readable_async(r, Deadline(None)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not loop.remove_reader(r)

    asyncio.run(asyncio.wait_for(main(), 20))
