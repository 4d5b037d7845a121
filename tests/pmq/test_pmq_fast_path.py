"""The two paths of a blocking send / receive (csrc/pmq.c): a first attempt
that cannot wait, made with the GIL held, and the real wait with the GIL
released, which a call takes only when that attempt would block (and, once
a handle has found its queue not ready, straight away for a few calls). The
same results, signals and errors on both; across processes; and the Message
a receive reuses once its caller has let go of it."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from unixipc import posix
from support import Child, cpu_seconds, wait_until


def _send_all(name: str, messages: list[tuple[bytes, int]]) -> None:
    with posix.MessageQueue(name) as mq:
        for data, prio in messages:
            mq.send(data, prio)


def test_receive_finds_messages_another_process_queued(make_pmq):
    mq = make_pmq(max_messages=8, max_message_size=64)
    sent = [(b"low", 1), (b"high", 9), (b"mid", 5), (b"mid2", 5)]
    child = Child(_send_all, mq.name, sent)
    try:
        child.result()
    finally:
        child.close()
    assert mq.attributes().current_messages == 4
    # the blocking, the timed and the non-blocking form each find one at once
    assert mq.receive() == (b"high", 9)
    assert mq.receive(timeout=5) == (b"mid", 5)
    assert mq.receive(block=False) == (b"mid2", 5)
    assert mq.receive(timeout=0) == (b"low", 1)
    with pytest.raises(BlockingIOError) as empty:
        mq.receive(block=False)
    assert empty.value.filename == mq.name


def _echo_after_go(name: str, go: str, count: int) -> None:
    """Waits for b"go" on `go`, then sends `count` messages on `name`."""
    with posix.MessageQueue(name) as mq, posix.MessageQueue(go) as g:
        assert g.receive(timeout=10).data == b"go"
        for i in range(count):
            mq.send(b"m%d" % i, i % 3)


@pytest.mark.parametrize("timeout", [None, 10.0])
def test_receive_that_waits_for_another_process_runs_signal_handlers(make_pmq, timeout):
    """The queue is empty: the receive waits (GIL released); a signal runs its
    Python handler, which lets the child send, and the wait resumes and gets
    the child's message. The next receives (the handle now waits first) find
    the rest, in priority order."""
    mq = make_pmq(max_messages=10, max_message_size=64)
    go = make_pmq(max_messages=1, max_message_size=8)
    seen = []

    def handler(signo, frame):
        seen.append(signo)
        go.send(b"go")

    child = Child(_echo_after_go, mq.name, go.name, 10)
    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        before = time.monotonic()
        first = mq.receive(timeout=timeout)
        assert time.monotonic() - before >= 0.1
        assert seen == [signal.SIGALRM]
        wait_until(lambda: mq.attributes().current_messages == 9)
        rest = [mq.receive(timeout=timeout) for _ in range(9)]
        child.result()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        child.close()
    got = [first] + rest
    assert sorted(got) == sorted((b"m%d" % i, i % 3) for i in range(10))
    assert [p for _, p in rest] == sorted((p for _, p in rest), reverse=True)


def test_many_receives_after_a_wait_take_both_paths(make_pmq):
    """After a wait the handle skips its first attempt for a while, then tries
    it again: forty receives of queued messages see each message once, in
    order, whichever path each took."""
    mq = make_pmq(max_messages=10, max_message_size=16)
    with pytest.raises(TimeoutError):
        mq.receive(timeout=0.01)  # the handle has now found its queue empty
    got = []
    for i in range(40):
        mq.send(b"%d" % i)
        got.append(mq.receive().data)
    assert got == [b"%d" % i for i in range(40)]


def _receive_after_go(name: str, go: str, count: int) -> list[bytes]:
    with posix.MessageQueue(name) as mq, posix.MessageQueue(go) as g:
        assert g.receive(timeout=10).data == b"go"
        return [mq.receive(timeout=10).data for _ in range(count)]


@pytest.mark.parametrize("timeout", [None, 10.0])
def test_send_that_waits_for_room_runs_signal_handlers(make_pmq, timeout):
    mq = make_pmq(max_messages=1, max_message_size=16)
    go = make_pmq(max_messages=1, max_message_size=8)
    seen = []

    def handler(signo, frame):
        seen.append(signo)
        go.send(b"go")

    mq.send(b"first")  # full
    child = Child(_receive_after_go, mq.name, go.name, 3)
    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        before = time.monotonic()
        mq.send(b"second", timeout=timeout)
        assert time.monotonic() - before >= 0.1
        assert seen == [signal.SIGALRM]
        mq.send(b"third", timeout=timeout)
        assert child.result() == [b"first", b"second", b"third"]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        child.close()


def test_full_and_empty_without_waiting_name_the_queue(make_pmq):
    mq = make_pmq(max_messages=1, max_message_size=16)
    mq.send(b"x", block=False)
    for call in (lambda: mq.send(b"y", block=False), lambda: mq.send(b"y", 3, timeout=0)):
        with pytest.raises((BlockingIOError, TimeoutError)) as info:
            call()
        assert info.value.filename == mq.name
    assert mq.receive(block=False) == (b"x", 0)


def test_other_threads_run_while_a_receive_waits(make_pmq):
    """The wait releases the GIL: the main thread runs Python code while a
    thread waits in receive(), then sends it the message it waits for."""
    mq = make_pmq(max_messages=1, max_message_size=16)
    got = []
    waiter = threading.Thread(target=lambda: got.append(mq.receive(timeout=10)))
    waiter.start()
    try:
        spins = 0
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            spins += 1
        assert spins > 1000
        mq.send(b"wake", 2)
    finally:
        waiter.join(10)
    assert got == [(b"wake", 2)]


def test_a_waiting_receive_uses_no_cpu(make_pmq):
    mq = make_pmq()
    before = cpu_seconds()
    with pytest.raises(TimeoutError):
        mq.receive(timeout=0.3)
    assert cpu_seconds() - before < 0.15


def test_a_held_message_is_never_changed_by_the_next_receive(make_pmq):
    mq = make_pmq(max_messages=4, max_message_size=64)
    for i in range(3):
        mq.send(b"m%d" % i, i)
    first = mq.receive()
    second = mq.receive()
    assert first == (b"m2", 2) and second == (b"m1", 1)
    assert first is not second
    data = second.data
    del second
    third = mq.receive()  # may reuse the object `second` was
    assert third == (b"m0", 0) and data == b"m1"
    assert first == (b"m2", 2)
    for _ in range(3):  # a reused Message hashes and compares as new
        mq.send(b"again", 7)
        msg = mq.receive()
        assert hash(msg) == hash((b"again", 7)) and msg == (b"again", 7)
        assert type(msg) is posix.Message and msg.data == b"again" and msg.priority == 7
        assert repr(msg) == "Message(data=b'again', priority=7)"
        del msg


def test_reused_message_bytes_hash_and_views_are_right(make_pmq):
    """Once the caller has let go of a Message and of its data, the next
    receive of the same size may refill both: hashes are computed afresh, and
    data still seen through a view (or a name) is never written over."""
    mq = make_pmq(max_messages=4, max_message_size=64)
    for content in (b"aaaa", b"bbbb", b"cccc", b"dddd"):
        mq.send(content, 1)
        msg = mq.receive()
        assert hash(msg.data) == hash(bytes(bytearray(content)))  # caches it
        assert hash(msg) == hash((bytes(bytearray(content)), 1))
        del msg
    mq.send(b"view")
    msg = mq.receive()
    view = memoryview(msg.data)
    del msg
    mq.send(b"over")
    kept = mq.receive().data
    mq.send(b"more")
    assert mq.receive() == (b"more", 0)
    assert bytes(view) == b"view" and kept == b"over"
