"""The hot call shapes (send(data), send(data, t), send(data, type=t),
receive(t), receive(type=t)) skip the general argument parser, and
receive() refills the Message it returned last once the caller has dropped
it. Neither may be observable: same results, same errors, no message ever
changed under a caller that still holds it."""

from __future__ import annotations

import gc
import sys

import pytest

import support
from unixipc import Message, msg_limits


def test_send_shapes(mq):
    mq.send(b"a")
    mq.send(b"b", 2)
    mq.send(b"c", type=3)
    mq.send(b"d", **{"".join(["ty", "pe"]): 4})  # equal, not the interned name
    assert [mq.receive() for _ in range(4)] == [(1, b"a"), (2, b"b"), (3, b"c"), (4, b"d")]


def test_receive_shapes(mq):
    for t in (5, 6, 7):
        mq.send(b"x%d" % t, t)
    assert mq.receive(7) == (7, b"x7")
    assert mq.receive(type=6) == (6, b"x6")
    assert mq.receive(**{"".join(["ty", "pe"]): 5}) == (5, b"x5")


@pytest.mark.parametrize("call", [
    lambda q: q.send(b"x", "1"),
    lambda q: q.send(b"x", type=True),
    lambda q: q.send(b"x", type=0),
    lambda q: q.send("text"),
    lambda q: q.send(b"x", 1, 2),
    lambda q: q.receive("1"),
    lambda q: q.receive(type=1.0),
    lambda q: q.receive(1, 2),
])
def test_shortcut_shapes_reject_bad_arguments_before_any_call(mq, call):
    with pytest.raises((TypeError, ValueError)):
        call(mq)
    assert mq.stat().message_count == 0


def test_held_message_is_never_refilled(mq):
    mq.send(b"first", 1)
    mq.send(b"second", 2)
    first = mq.receive()
    second = mq.receive()
    assert first == (1, b"first") and second == (2, b"second")
    assert first is not second
    assert isinstance(first, Message) and first.type == 1 and first.data == b"first"


def test_dropped_message_may_be_refilled_with_new_values(mq):
    for i in range(50):
        mq.send(b"%d" % i, i + 1)
        msg = mq.receive()
        assert msg == (i + 1, b"%d" % i)
        assert msg.data == b"%d" % i and msg.type == i + 1
        del msg
    kept = []
    for i in range(5):
        mq.send(b"k%d" % i, 1)
        kept.append(mq.receive())
    assert kept == [(1, b"k%d" % i) for i in range(5)]
    assert len({id(m) for m in kept}) == 5


@pytest.fixture
def msgmax_above_8k():
    """Messages larger than the 8 KiB a queue object may keep: the default
    msgmax is exactly 8192, so raise it, which root may do in the private
    IPC namespace the suite runs in (restored afterwards)."""
    path = "/proc/sys/kernel/msgmax"
    if msg_limits().max_message_size > 8192:
        yield
        return
    if not support.private_ipc_namespace():
        pytest.skip("msgmax is 8192 and may only be raised in a private IPC namespace")
    with open(path) as f:
        old = f.read()
    with open(path, "w") as f:
        f.write("16384")
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write(old)


def test_large_message_text_is_not_kept_by_the_queue(mq, msgmax_above_8k):
    assert msg_limits().max_message_size > 8192
    big = b"z" * 8193
    mq.send(big)
    msg = mq.receive()
    data = msg.data
    before = sys.getrefcount(data)
    del msg
    gc.collect()
    assert sys.getrefcount(data) == before - 1  # only our reference is left
    mq.send(b"small")
    assert mq.receive() == (1, b"small")


def test_messages_survive_gc_and_hashing(mq):
    mq.send(b"h", 3)
    msg = mq.receive()
    gc.collect()
    assert hash(msg) == hash((3, b"h"))
    assert {msg: 1}[(3, b"h")] == 1
