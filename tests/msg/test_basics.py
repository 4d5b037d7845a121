"""Creating, opening, sending, receiving, stat, set, remove."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

import unixipc
from unixipc import Message


def test_private_queue_roundtrip_and_defaults(queue):
    queue.send(b"hello", type=5)
    msg = queue.receive()
    assert msg == Message(5, b"hello")
    assert isinstance(msg, Message) and msg.type == 5 and msg.data == b"hello"
    st = queue.stat()
    assert st.perm.mode == 0o600
    assert st.perm.uid == os.getuid() and st.perm.cuid == os.getuid()
    assert st.id == queue.id and st.perm.key == 0 == queue.key


def test_keyed_create_open_exclusive(make_queue, tmp_path):
    key = unixipc.ftok(tmp_path, 9)
    mq = make_queue(key, exclusive=True)
    assert mq.created and mq.key == key
    with pytest.raises(FileExistsError) as info:
        unixipc.MessageQueue(key, create=True, exclusive=True)
    assert info.value.errno == errno.EEXIST
    again = unixipc.MessageQueue(key, create=True)
    assert again.id == mq.id and not again.created
    opened = unixipc.MessageQueue(key)
    assert opened.id == mq.id


def test_open_missing_key_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        unixipc.MessageQueue(unixipc.ftok(tmp_path, 200))


def test_context_manager_removes_only_what_it_created(make_queue, tmp_path):
    key = unixipc.ftok(tmp_path, 3)
    owner = make_queue(key)
    with unixipc.MessageQueue(key, create=True) as other:
        assert not other.created
    owner.stat()  # still alive
    with unixipc.MessageQueue(create=True) as mine:
        ident = mine.id
    with pytest.raises(OSError) as info:
        unixipc.MessageQueue.from_id(ident)
    assert info.value.errno in (errno.EINVAL, errno.EIDRM)


def test_from_id_of_ipcmk_queue(ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    mq = unixipc.MessageQueue.from_id(ident)
    mq.send(b"to ipcmk's queue", type=2)
    assert mq.receive() == (2, b"to ipcmk's queue")
    ipcs = subprocess.run(["ipcs", "-q", "-i", str(ident)], capture_output=True, text=True,
                          check=True, timeout=10).stdout
    assert f"msqid={ident}" in ipcs.replace(" ", "")


def test_stat_counts_bytes_and_pids(queue):
    queue.send(b"12345", type=1)
    queue.send(b"123", type=2)
    st = queue.stat()
    assert (st.message_count, st.current_bytes) == (2, 8)
    assert st.last_send_pid == os.getpid() and st.last_receive_pid == 0
    assert st.send_time > 0 and st.receive_time == 0
    queue.receive()
    st = queue.stat()
    assert (st.message_count, st.current_bytes) == (1, 3)
    assert st.last_receive_pid == os.getpid()


def test_set_mode_and_lower_max_bytes(queue):
    queue.set(mode=0o640, max_bytes=1000)
    st = queue.stat()
    assert st.perm.mode == 0o640 and st.max_bytes == 1000
    with pytest.raises(ValueError, match="never fit"):
        queue.send(b"x" * 1001)
    assert queue.stat().message_count == 0
    queue.send(b"x" * 1000)


def test_raising_max_bytes_above_system_limit_needs_privilege(queue):
    limit = unixipc.message_queue_limits().default_max_bytes
    with open("/proc/sys/kernel/msgmnb") as f:
        assert int(f.read()) == limit
    with pytest.raises(PermissionError) as info:
        queue.set(max_bytes=limit * 4)
    assert info.value.errno == errno.EPERM
    assert queue.stat().max_bytes == limit


def test_remove_then_use_fails_with_errno(make_queue):
    mq = make_queue()
    mq.remove()
    with pytest.raises(OSError) as info:
        mq.send(b"x")
    assert info.value.errno in (errno.EINVAL, errno.EIDRM)


def test_empty_and_binary_messages(queue):
    data = bytes(range(256))
    queue.send(b"", type=3)
    queue.send(memoryview(data), type=4)
    assert queue.receive() == (3, b"")
    assert queue.receive() == (4, data)


def test_large_message_up_to_msgmax(queue):
    msgmax = unixipc.message_queue_limits().max_message_size
    queue.send(b"z" * msgmax)
    assert queue.receive().data == b"z" * msgmax
    with pytest.raises(OSError) as info:
        queue.send(b"z" * (msgmax + 1))
    assert info.value.errno in (errno.EINVAL,) or isinstance(info.value, ValueError)


def test_peek_copies_without_removing(queue):
    queue.send(b"first", type=1)
    queue.send(b"second", type=2)
    assert queue.peek(1) == (2, b"second")
    assert queue.peek(0) == (1, b"first")
    assert queue.stat().message_count == 2
    with pytest.raises(BlockingIOError):
        queue.peek(5)


def test_long_types_end_to_end(queue):
    big = 2**62
    queue.send(b"big", type=big)
    assert queue.receive(type=big) == (big, b"big")
