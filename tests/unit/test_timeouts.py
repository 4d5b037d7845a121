"""Every blocking call checks ``timeout=`` the same way, in C or in Python,
before any system call: a bool or a string is a TypeError, a negative or
NaN number a ValueError."""

from __future__ import annotations

import math

import pytest

import unixipc
from unixipc import sockets

BAD = [(True, TypeError), ("1", TypeError), (-0.5, ValueError), (math.nan, ValueError)]


@pytest.fixture
def calls(ipc_tracker):
    mq = unixipc.MessageQueue(create=True)
    ipc_tracker.track("msg", mq.id)
    sems = unixipc.SemaphoreSet(count=1, create=True)
    ipc_tracker.track("sem", sems.id)
    pipe = unixipc.Pipe()
    a, b = sockets.MessageChannel.pair()
    yield {
        "MessageQueue.receive": lambda t: mq.receive(timeout=t),
        "Semaphore.acquire": lambda t: sems[0].acquire(timeout=t),
        "PipeReader.read": lambda t: pipe.reader.read(1, timeout=t),
        "PipeReader.readall": lambda t: pipe.reader.readall(timeout=t),
        "MessageChannel.receive": lambda t: b.receive(timeout=t),
        "sockets.connect": lambda t: sockets.connect("unix:@unixipc-no-such", timeout=t),
    }
    a.close()
    b.close()
    pipe.reader.close()
    pipe.writer.close()
    sems.remove()
    mq.remove()


@pytest.mark.parametrize("bad, exc", BAD)
def test_bad_timeouts_are_refused_everywhere(calls, bad, exc):
    for name, call in calls.items():
        with pytest.raises(exc):
            call(bad)
            pytest.fail(f"{name} accepted timeout={bad!r}")
