"""A sender with only write permission opens and uses a queue (as
``ipcmk -Q -p 0622`` makes one): opening never needs read permission."""

from __future__ import annotations

import os

import pytest

import unixipc
from support import NOBODY, Child


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")
def test_write_only_sender_opens_by_id_and_sends():
    with unixipc.MessageQueue(create=True, mode=0o622) as mq:
        def as_nobody():
            sender = unixipc.MessageQueue.from_id(mq.id)
            sender.send(b"from nobody", type=3)
            try:
                sender.stat()
            except PermissionError as exc:
                denied = exc.errno
            return sender.key, sender.created, denied

        key, created, denied = Child(as_nobody, uid=NOBODY).result(timeout=10)
        assert key == mq.key and created is False
        assert denied == 13  # EACCES: reading stays refused
        assert mq.receive(timeout=5) == (3, b"from nobody")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")
def test_owner_without_read_bit_can_remove():
    def as_nobody():
        made = unixipc.MessageQueue(0x5E0A0004, exclusive=True)
        made.set(mode=0o000)
        unixipc.MessageQueue(0x5E0A0004, mode=0).remove()
        other = unixipc.MessageQueue(create=True, mode=0o000)
        unixipc.MessageQueue.from_id(other.id).remove()
        return made.id, other.id

    ids = Child(as_nobody, uid=NOBODY).result(timeout=10)
    assert not set(ids) & {q.id for q in unixipc.message_queues()}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")
def test_owner_without_read_bit_can_set_it_back():
    """IPC_SET needs ownership, not read permission: the owner of a queue
    with mode 0o200 gives itself read permission back (the byte limit it
    did not name stays as it was)."""
    def as_nobody():
        with unixipc.MessageQueue(create=True, mode=0o200) as q:
            q.set(max_bytes=4096)
            q.set(mode=0o600)
            stat = q.stat()  # readable again
            return stat.perm.mode & 0o777, stat.max_bytes

    assert Child(as_nobody, uid=NOBODY).result(timeout=10) == (0o600, 4096)
