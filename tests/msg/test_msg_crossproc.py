"""Message queues between real processes: blocking, removal, signals,
C peers, util-linux and other users."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time

import pytest

import unixipc
from unixipc import Message, MessageQueue, ObjectRemovedError
from support import NOBODY, Child, wait_blocked


def _receive(msqid: int, **kwargs):
    return tuple(MessageQueue.from_id(msqid).receive(**kwargs))


def _send(msqid: int, data: bytes, type_: int = 1):
    MessageQueue.from_id(msqid).send(data, type_)


def test_messages_cross_processes_with_types(mq):
    def child(msqid: int) -> list[tuple[int, bytes]]:
        q = MessageQueue.from_id(msqid)
        got = [tuple(q.receive(2)), tuple(q.receive(-1))]  # type 2 first, then 1
        q.send(b"reply", 3)
        return got

    c = Child(child, mq.id)
    try:
        mq.send(b"one", 1)
        mq.send(b"two", 2)
        assert mq.receive(3, timeout=10) == (3, b"reply")
        assert c.result() == [(2, b"two"), (1, b"one")]
    finally:
        c.close()


def test_blocked_receive_sees_removal(mq):
    c = Child(_receive, mq.id)
    try:
        wait_blocked(c.pid)
        mq.remove()
        with pytest.raises(ObjectRemovedError) as info:
            c.result()
        assert info.value.errno == errno.EIDRM
    finally:
        c.close()


def test_blocked_send_on_full_queue_sees_removal(mq):
    mq.set(max_bytes=8)
    mq.send(b"12345678")
    c = Child(_send, mq.id, b"more")
    try:
        wait_blocked(c.pid)
        assert mq.stat().message_count == 1
        mq.remove()
        with pytest.raises(ObjectRemovedError):
            c.result()
    finally:
        c.close()


def test_signals_during_blocked_receive_are_retried(mq):
    """SIGALRM every 10 ms while receive() waits: the handler runs each time,
    the call goes on and returns the message sent later."""

    def child(msqid: int) -> tuple[int, tuple[int, bytes]]:
        hits = []
        signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        try:
            msg = MessageQueue.from_id(msqid).receive(type=7)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return len(hits), tuple(msg)

    c = Child(child, mq.id)
    try:
        wait_blocked(c.pid)
        time.sleep(0.3)
        mq.send(b"late", 7)
        hits, msg = c.result()
        assert msg == (7, b"late")
        assert hits >= 10
    finally:
        c.close()


def test_signals_during_timed_receive_are_retried(mq):
    def child(msqid: int):
        hits = []
        signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        try:
            msg = tuple(MessageQueue.from_id(msqid).receive(timeout=20))
            return len(hits), msg
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    c = Child(child, mq.id)
    try:
        time.sleep(0.3)
        mq.send(b"x")
        hits, msg = c.result()
        assert msg == (1, b"x") and hits >= 10
    finally:
        c.close()


def test_batches_between_processes(mq):
    def child(msqid: int) -> int:
        q = MessageQueue.from_id(msqid)
        n = 0
        while n < 300:
            batch = q.receive_many(64, timeout=10)
            assert [int(m.data) for m in batch] == list(range(n, n + len(batch)))
            n += len(batch)
        return n

    c = Child(child, mq.id)
    try:
        data = [str(i).encode() for i in range(300)]
        sent = 0
        while sent < 300:  # the queue holds fewer than 300: send_many blocks
            sent += mq.send_many(data[sent:sent + 100], timeout=10)
        assert c.result() == 300
    finally:
        c.close()


# ---- C peers, util-linux --------------------------------------------------------

def test_c_peer_sends_python_receives(mq, cpeer):
    subprocess.run([cpeer("msg_peer"), "send", str(mq.id)], check=True, timeout=10)
    assert mq.receive() == (1, b"hello")
    assert mq.receive() == (7, bytes(range(256)))
    assert mq.receive() == (2**63 - 1, b"")
    assert mq.receive() == (2, b"z" * 8192)


def test_python_sends_c_peer_receives(mq, cpeer):
    sent = [Message(1, b"hi"), Message(2**63 - 1, bytes(range(256))), Message(42, b""),
            Message(5, b"\x00" * 8192)]
    for m in sent:
        mq.send(m.data, m.type)
    out = subprocess.run([cpeer("msg_peer"), "recv", str(mq.id), str(len(sent))],
                         check=True, timeout=10, capture_output=True, text=True).stdout
    got = [line.split(" ") for line in out.splitlines()]
    assert [(int(t), bytes.fromhex(h)) for t, h in got] == [tuple(m) for m in sent]


def test_ipcmk_queue_opened_by_id(ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q", "-p", "0640")
    q = MessageQueue.from_id(ident)
    assert q.id == ident and not q.created
    assert q.stat().perm.mode == 0o640
    q.send(b"via ipcmk", 9)
    out = subprocess.run(["ipcs", "-q", "-i", str(ident)], capture_output=True, text=True,
                         check=True, timeout=10).stdout
    assert "qnum=1" in out.replace(" ", "") or "qnum=1" in out
    assert q.receive() == (9, b"via ipcmk")
    with q:  # not created here: left alone
        pass
    assert q.stat().id == ident
    subprocess.run(["ipcrm", "-q", str(ident)], check=True, timeout=10)
    with pytest.raises(OSError) as info:
        q.send(b"x")
    assert info.value.errno in (errno.EINVAL, errno.EIDRM)


# ---- other users ------------------------------------------------------------------

def _open_by_key(key: int) -> int:
    return MessageQueue(key).id


def test_other_user_cannot_open_a_0600_queue(new_queue):
    q = new_queue(0x5EED0010, create=True)  # mode 0o600
    c = Child(_open_by_key, 0x5EED0010, uid=NOBODY)
    try:
        with pytest.raises(PermissionError) as info:
            c.result()
        assert info.value.errno == errno.EACCES
    finally:
        c.close()
    q.set(mode=0o666)
    c = Child(_open_by_key, 0x5EED0010, uid=NOBODY)
    try:
        assert c.result() == q.id
    finally:
        c.close()


def test_other_user_cannot_remove(new_queue):
    q = new_queue(create=True, mode=0o666)

    def remove(msqid: int) -> None:
        MessageQueue.from_id(msqid).remove()

    c = Child(remove, q.id, uid=NOBODY)
    try:
        with pytest.raises(PermissionError) as info:
            c.result()
        assert info.value.errno == errno.EPERM
    finally:
        c.close()
    assert q.stat().id == q.id


def test_other_user_cannot_read_without_permission(new_queue):
    q = new_queue(create=True, mode=0o622)  # others may write, not read
    q.send(b"secret")

    def child(msqid: int):
        from unixipc import _core
        mq = MessageQueue.__new__(MessageQueue)
        mq._msqid = msqid  # no IPC_STAT: from_id would need read permission
        mq.send(b"ok")
        return tuple(mq.receive())

    c = Child(child, q.id, uid=NOBODY)
    try:
        with pytest.raises(PermissionError):
            c.result()
    finally:
        c.close()
    assert q.stat().message_count == 2


def test_raising_max_bytes_above_the_system_limit_needs_privilege(ipc_tracker):
    limit = unixipc.msg_limits().default_max_bytes

    def child(limit: int):
        q = MessageQueue(create=True)  # owned by nobody
        try:
            q.set(max_bytes=limit)  # up to msgmnb: allowed
            try:
                q.set(max_bytes=limit + 1)
            except PermissionError as exc:
                return q.id, exc.errno, q.stat().max_bytes
            return q.id, None, q.stat().max_bytes
        finally:
            q.remove()

    c = Child(child, limit, uid=NOBODY)
    try:
        ident, err, max_bytes = c.result()
    finally:
        c.close()
    ipc_tracker.track("msg", ident)
    assert err == errno.EPERM and max_bytes == limit


@pytest.mark.parametrize("call", ["send", "send_many", "receive_many"])
def test_signals_during_other_blocking_calls_are_retried(mq, call):
    """SIGALRM every 10 ms while send / send_many (queue full) or
    receive_many (queue empty) waits; a child unblocks it after 0.3 s."""
    mq.set(max_bytes=4)
    if call != "receive_many":
        mq.send(b"full")

    def child(msqid: int) -> None:
        time.sleep(0.3)
        q = MessageQueue.from_id(msqid)
        if call == "receive_many":
            q.send(b"ping", 5)
        else:
            q.receive(timeout=10)

    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    c = Child(child, mq.id)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        if call == "send":
            mq.send(b"next", 2, timeout=20)
        elif call == "send_many":
            assert mq.send_many([b"next"], 2, timeout=20) == 1
        else:
            assert mq.receive_many(3, timeout=20) == [(5, b"ping")]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        c.result()
        c.close()
    assert len(hits) >= 10
    if call != "receive_many":
        assert mq.receive(block=False) == (2, b"next")


def test_set_owner_hands_the_queue_to_another_user(new_queue):
    q = new_queue(create=True)  # mode 0o600, owned and created by this user
    q.set(uid=NOBODY, gid=NOBODY)
    st = q.stat()
    assert (st.perm.uid, st.perm.gid, st.perm.mode) == (NOBODY, NOBODY, 0o600)
    assert (st.perm.cuid, st.perm.cgid) == (os.geteuid(), os.getegid())

    def child(msqid: int) -> tuple[int, bytes]:
        mine = MessageQueue.from_id(msqid)  # the owner bits now apply to nobody
        mine.send(b"mine now", 3)
        msg = tuple(mine.receive())
        mine.remove()  # the owner may remove it
        return msg

    c = Child(child, q.id, uid=NOBODY)
    try:
        assert c.result() == (3, b"mine now")
    finally:
        c.close()
    with pytest.raises(OSError) as info:
        q.stat()
    assert info.value.errno in (errno.EINVAL, errno.EIDRM)


def test_message_queues_lists_queues_another_user_cannot_read(new_queue):
    q = new_queue(0x5EED0011, create=True)  # 0o600: nobody may not read it

    def child() -> list[tuple[int, int, int]]:
        return [(st.id, st.perm.key, st.perm.mode) for st in unixipc.message_queues()]

    c = Child(child, uid=NOBODY)
    try:
        listed = c.result()
    finally:
        c.close()
    assert (q.id, 0x5EED0011, 0o600) in listed  # as /proc/sysvipc/msg and ipcs -q show it
