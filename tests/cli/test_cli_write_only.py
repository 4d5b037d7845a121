"""The CLI as uid 65534 on objects it may write but not read (made by root
with ``ipcmk -p 0622``): msg send and sem op work by id and by key, and rm
works for an owner who removed their own read bit."""

from __future__ import annotations

import os

import pytest

import unixipc
from support import NOBODY, Child

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")


@pytest.fixture
def as_nobody(cli):
    """as_nobody(*argv) -> (status, stderr) of the command run as uid 65534."""
    def run(*argv: str) -> tuple[int, str]:
        def child() -> tuple[int, str]:
            r = cli(*argv)
            return r.status, r.err  # plain values: they are pickled back

        return Child(child, uid=NOBODY).result(timeout=30)

    return run


def test_mq_send_to_write_only_queue(ipc_tracker, as_nobody):
    ident = ipc_tracker.ipcmk("-Q", "-p", "0622")
    mq = unixipc.MessageQueue.from_id(ident)
    assert as_nobody("msg", "send", str(ident), "by id") == (0, "")
    assert as_nobody("msg", "send", "--key", hex(mq.key & 0xFFFFFFFF), "--type", "2",
                     "by key") == (0, "")
    assert mq.receive(timeout=5) == (1, b"by id")
    assert mq.receive(timeout=5) == (2, b"by key")


def test_sem_op_on_write_only_set(ipc_tracker, as_nobody):
    ident = ipc_tracker.ipcmk("-S", "2", "-p", "0622")
    assert as_nobody("sem", "op", str(ident), "0:+2", "1:+1") == (0, "")
    assert as_nobody("sem", "set", str(ident), "5", "6") == (0, "")
    assert unixipc.SemaphoreSet.from_id(ident).values == [5, 6]


@pytest.mark.parametrize("flag,make", [
    ("-q", lambda: unixipc.MessageQueue(0x5E0A0005, exclusive=True)),
    ("-s", lambda: unixipc.SemaphoreSet(0x5E0A0005, create=True, exclusive=True)),
    ("-m", lambda: unixipc.SharedMemory(0x5E0A0005, 64, create=True, exclusive=True)),
])
def test_rm_by_id_and_key_without_read_bit(flag, make, as_nobody):
    def made_unreadable() -> int:
        obj = make()
        obj.set(mode=0o000)
        return obj.id

    a = Child(lambda: made_unreadable(), uid=NOBODY).result(timeout=10)
    assert as_nobody("rm", flag, "--key", "0x5e0a0005") == (0, "")
    b = Child(lambda: made_unreadable(), uid=NOBODY).result(timeout=10)
    assert as_nobody("rm", flag, str(b)) == (0, "")
    listing = {"-q": unixipc.message_queues, "-s": unixipc.semaphore_sets,
               "-m": unixipc.shared_memory_segments}[flag]
    assert not {a, b} & {st.id for st in listing()}
