"""Interop with posix_ipc (installed by the test extras only): queues made
by either library are opened by the other, bytes and priorities exact."""

from __future__ import annotations

import pytest

from unixipc import posix
from support import posix_name

posix_ipc = pytest.importorskip("posix_ipc")


def test_posix_ipc_queue_is_opened_by_unixipc():
    name = posix_name("pipc")
    theirs = posix_ipc.MessageQueue(name, posix_ipc.O_CREX, max_messages=5,
                                    max_message_size=100)
    try:
        theirs.send(b"from posix_ipc", priority=4)
        with posix.MessageQueue(name) as ours:
            assert ours.attributes() == posix.QueueAttributes(5, 100, 1)
            assert tuple(ours.receive(timeout=5)) == (b"from posix_ipc", 4)
            ours.send(b"from unixipc", 8)
        assert theirs.receive(timeout=5) == (b"from unixipc", 8)
    finally:
        theirs.close()
        theirs.unlink()


def test_unixipc_queue_is_opened_by_posix_ipc(make_pmq):
    ours = make_pmq(max_messages=3, max_message_size=32)
    theirs = posix_ipc.MessageQueue(ours.name)
    try:
        assert (theirs.max_messages, theirs.max_message_size) == (3, 32)
        ours.send(b"one", 1)
        ours.send(b"two", 2)
        assert theirs.receive(timeout=5) == (b"two", 2)
        theirs.send(b"three", priority=3)
        assert [tuple(ours.receive(timeout=5)) for _ in range(2)] == [(b"three", 3),
                                                                     (b"one", 1)]
    finally:
        theirs.close()
