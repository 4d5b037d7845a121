"""Behaviour between processes: blocking, removal while blocked, signals,
timeouts, permissions."""

from __future__ import annotations

import errno
import os
import signal
import time

import pytest

import unixipc
from support import NOBODY, Child, cpu_seconds, wait_blocked


def test_child_blocked_in_receive_sees_removal(queue):
    child = Child(lambda: queue.receive(timeout=20))
    wait_blocked(child.pid)
    queue.remove()
    with pytest.raises(unixipc.ObjectRemovedError) as info:
        child.result(timeout=10)
    assert info.value.errno == errno.EIDRM
    assert "msgrcv" in str(info.value)


def test_child_blocked_in_send_on_full_queue_sees_removal(queue):
    queue.set(max_bytes=64)
    queue.send(b"x" * 64)
    child = Child(lambda: queue.send(b"y" * 8, timeout=20))
    wait_blocked(child.pid)
    queue.remove()
    with pytest.raises(unixipc.ObjectRemovedError):
        child.result(timeout=10)


def test_blocked_receive_completes_when_a_message_arrives(queue):
    child = Child(lambda: queue.receive(type=3, timeout=20))
    wait_blocked(child.pid)
    queue.send(b"not for it", type=1)
    queue.send(b"for it", type=3)
    assert child.result(timeout=10) == (3, b"for it")
    assert queue.receive(block=False) == (1, b"not for it")


def test_blocked_send_completes_when_space_frees(queue):
    queue.set(max_bytes=10)
    queue.send(b"0123456789")
    child = Child(lambda: queue.send(b"next", timeout=20))
    wait_blocked(child.pid)
    assert queue.receive() == (1, b"0123456789")
    child.result(timeout=10)
    assert queue.receive(timeout=5) == (1, b"next")


def _receive_with_signals(queue, interval):
    hits = []
    signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    signal.setitimer(signal.ITIMER_REAL, interval, interval)
    try:
        msg = queue.receive(timeout=20)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return msg, len(hits)


def test_signals_during_blocked_receive_are_retried(queue):
    child = Child(_receive_with_signals, queue, 0.02)
    wait_blocked(child.pid)
    time.sleep(0.3)
    queue.send(b"after many signals", type=9)
    msg, hits = child.result(timeout=10)
    assert msg == (9, b"after many signals")
    assert hits >= 3


def test_repeated_signals_do_not_stretch_timeout(queue):
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
    try:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            queue.receive(timeout=0.4)
        elapsed = time.monotonic() - t0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(hits) >= 10
    assert 0.39 <= elapsed < 1.5


def test_timeout_burns_no_cpu(queue):
    cpu0, t0 = cpu_seconds(), time.monotonic()
    with pytest.raises(TimeoutError) as info:
        queue.receive(timeout=0.3)
    elapsed, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
    assert info.value.errno == errno.ETIMEDOUT
    assert 0.29 <= elapsed < 1.5
    assert cpu < 0.05


def test_keyboard_interrupt_ends_a_blocked_receive(queue):
    def interrupted():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            queue.receive(timeout=20)
        except KeyboardInterrupt:
            return "interrupted"

    child = Child(interrupted)
    wait_blocked(child.pid)
    os.kill(child.pid, signal.SIGINT)
    assert child.result(timeout=10) == "interrupted"


def test_other_user_cannot_open_or_remove(make_queue, tmp_path):
    key = unixipc.ftok(tmp_path, 1)
    mq = make_queue(key, mode=0o600)

    def as_nobody():
        results = {}
        try:
            unixipc.MessageQueue(key)
        except PermissionError as exc:
            results["open"] = exc.errno
        try:
            unixipc.MessageQueue.from_id(mq.id).remove()
        except PermissionError as exc:
            results["from_id"] = exc.errno
        try:
            unixipc._core.msgctl_rmid(mq.id)
        except PermissionError as exc:
            results["remove"] = exc.errno
        return results

    results = Child(as_nobody, uid=NOBODY).result(timeout=10)
    assert results == {"open": errno.EACCES, "from_id": errno.EACCES, "remove": errno.EPERM}
    mq.stat()


def test_other_user_with_permission_can_use(make_queue):
    mq = make_queue(mode=0o666)

    def as_nobody():
        q = unixipc.MessageQueue.from_id(mq.id)
        q.send(b"from nobody", type=4)
        return os.getuid()

    assert Child(as_nobody, uid=NOBODY).result(timeout=10) == NOBODY
    assert mq.receive() == (4, b"from nobody")
    assert mq.stat().last_send_pid != os.getpid()
