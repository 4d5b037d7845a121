"""POSIX message queues between real processes: waits across processes,
racing creators, crashes, permissions, a C peer (pickling into children:
tests/contracts/test_pickling.py)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from unixipc import posix
from support import NOBODY, Child, posix_name, wait_blocked


def _receive_one(name: str) -> tuple[bytes, int]:
    with posix.MessageQueue(name) as mq:
        return tuple(mq.receive(timeout=10))  # type: ignore[return-value]


def test_child_waits_until_the_parent_sends(make_pmq):
    mq = make_pmq()
    child = Child(_receive_one, mq.name)
    try:
        wait_blocked(child.pid)
        mq.send(b"wake", 7)
        assert child.result() == (b"wake", 7)
    finally:
        child.close()


def _fill(name: str) -> None:
    with posix.MessageQueue(name) as mq:
        mq.send(b"second", timeout=10)


def test_full_queue_sender_waits_for_a_receiver(make_pmq):
    mq = make_pmq(max_messages=1, max_message_size=16)
    mq.send(b"first")
    child = Child(_fill, mq.name)
    try:
        wait_blocked(child.pid)
        assert mq.receive().data == b"first"
        child.result()
    finally:
        child.close()
    assert mq.receive(timeout=5).data == b"second"


def _create_exclusive(name: str) -> bool:
    try:
        mq = posix.MessageQueue(name, exclusive=True, max_messages=3, max_message_size=50)
    except FileExistsError:
        mq = posix.MessageQueue(name)
        ok = mq.attributes()[:2] == (3, 50)  # never half made
        mq.close()
        assert ok
        return False
    mq.close()
    return True


def test_racing_exclusive_creators_exactly_one_wins():
    name = posix_name("race")
    children = [Child(_create_exclusive, name) for _ in range(6)]
    try:
        wins = [c.result() for c in children]
    finally:
        for c in children:
            c.close()
        try:
            with posix.MessageQueue(name) as mq:
                mq.unlink()
        except FileNotFoundError:
            pass
    assert wins.count(True) == 1


def _receive_then_hang(name: str) -> None:
    mq = posix.MessageQueue(name)
    mq.receive()
    time.sleep(60)


def test_a_killed_receiver_loses_only_what_it_received(make_pmq):
    mq = make_pmq()
    for i in range(3):
        mq.send(b"m%d" % i)
    child = Child(_receive_then_hang, mq.name)
    try:
        for _ in range(500):
            if mq.attributes().current_messages == 2:
                break
            time.sleep(0.01)
        child.kill()
        child.wait()
    finally:
        child.close()
    assert [mq.receive(block=False).data for _ in range(2)] == [b"m1", b"m2"]


def _open_as_nobody(name: str) -> str:
    try:
        posix.MessageQueue(name)
    except PermissionError as exc:
        return str(exc.filename)
    return "opened"


def test_permission_error_names_the_queue(make_pmq):
    mq = make_pmq()  # mode 0o600, owned by root
    child = Child(_open_as_nobody, mq.name, uid=NOBODY)
    try:
        assert child.result() == mq.name
    finally:
        child.close()


def test_c_peer_sends_and_receives_exact_bytes_and_priorities(make_pmq, cpeer):
    exe = cpeer("mq_peer")
    mq = make_pmq(max_messages=8, max_message_size=64)
    subprocess.run([exe, mq.name, "send", "low:1", "high:9", "mid:5"], check=True,
                   timeout=10)
    assert [tuple(mq.receive(timeout=5)) for _ in range(3)] == [
        (b"high", 9), (b"mid", 5), (b"low", 1)]
    mq.send(b"from python", 2)
    mq.send(b"urgent", 30000)
    out = subprocess.run([exe, mq.name, "recv", "2"], check=True, timeout=10,
                         capture_output=True, text=True).stdout
    assert out.splitlines() == ["30000 urgent", "2 from python"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")
def test_mode_0o666_lets_another_user_send(make_pmq):
    old = os.umask(0)
    try:
        mq = make_pmq(mode=0o666)
    finally:
        os.umask(old)

    def send_as_nobody() -> None:
        with posix.MessageQueue(mq.name, read=False) as w:
            w.send(b"nobody", 1)

    child = Child(send_as_nobody, uid=NOBODY)
    try:
        child.result()
    finally:
        child.close()
    assert tuple(mq.receive(timeout=5)) == (b"nobody", 1)


def _create_under_a_small_rlimit(name: str) -> str:
    import resource

    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (1024, 1024))
    try:
        posix.MessageQueue(name, create=True, max_messages=10, max_message_size=8192)
    except OSError as exc:
        return f"{exc.errno} {exc}"
    with posix.MessageQueue(name) as mq:
        mq.unlink()
    return "created"


def test_rlimit_msgqueue_is_named_in_the_error():
    name = posix_name("rlimit")
    child = Child(_create_under_a_small_rlimit, name)
    try:
        out = child.result()
    finally:
        child.close()
    assert "RLIMIT_MSGQUEUE (1024 bytes" in out and out.startswith("24 ")
    assert "RLIMIT_NOFILE" not in out


def _open_with_no_descriptor_left(name: str) -> str:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    fds = []
    try:
        while True:
            fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    try:
        posix.MessageQueue(name, create=True)
    except OSError as exc:
        return f"{exc.errno} {exc}"
    finally:
        for fd in fds:
            os.close(fd)
    with posix.MessageQueue(name) as mq:
        mq.unlink()
    return "created"


def test_descriptor_limit_at_open_is_named_apart_from_rlimit_msgqueue():
    """EMFILE at mq_open is either limit: each error says which, with its value."""
    child = Child(_open_with_no_descriptor_left, posix_name("nofile"))
    try:
        out = child.result()
    finally:
        child.close()
    assert out.startswith("24 ") and "RLIMIT_NOFILE (64)" in out, out
    assert "RLIMIT_MSGQUEUE" not in out
