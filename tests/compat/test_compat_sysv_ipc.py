"""unixipc.compat.sysv_ipc: sysv_ipc's meaning kept, what it fixes, and
interop both ways with the real sysv_ipc and unixipc's native classes."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Iterator

import pytest

import unixipc
import unixipc.compat.sysv_ipc as shim

import sysv_ipc as real  # the test extra installs it

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def mq() -> Iterator[shim.MessageQueue]:
    q = shim.MessageQueue(None, shim.IPC_CREX)
    yield q
    q.remove()


@pytest.fixture
def sem() -> Iterator[shim.Semaphore]:
    s = shim.Semaphore(None, shim.IPC_CREX, initial_value=1)
    yield s
    s.remove()


def test_receive_returns_data_then_type_and_str_is_sent_as_utf8(mq: shim.MessageQueue) -> None:
    mq.send("Göteborg", type=7)
    assert mq.receive() == ("Göteborg".encode(), 7)


def test_exceptions_are_both_sysv_ipc_and_unixipc_classes(mq: shim.MessageQueue) -> None:
    with pytest.raises(shim.ExistentialError) as info:
        shim.MessageQueue(mq.key, shim.IPC_CREX)
    assert isinstance(info.value, FileExistsError) and info.value.errno == errno.EEXIST
    mq2 = shim.MessageQueue(None, shim.IPC_CREX)
    mq2.remove()
    with pytest.raises(FileNotFoundError) as missing:
        shim.MessageQueue(mq2.key)
    assert isinstance(missing.value, shim.ExistentialError)
    assert isinstance(missing.value, shim.Error) and isinstance(missing.value, OSError)
    with pytest.raises(BlockingIOError) as busy:
        mq.receive(block=False)
    assert isinstance(busy.value, shim.BusyError) and busy.value.errno == errno.ENOMSG
    assert type(busy.value).__name__ == "BusyError"
    with pytest.raises(unixipc.ObjectRemovedError) as gone:
        shim.remove_message_queue(mq2.id)
    assert isinstance(gone.value, shim.ExistentialError)


def test_a_semaphore_timeout_really_waits_and_raises_busy(sem: shim.Semaphore) -> None:
    assert shim.SEMAPHORE_TIMEOUT_SUPPORTED is True
    sem.acquire()
    start = time.monotonic()
    with pytest.raises(shim.BusyError) as info:
        sem.acquire(0.3)
    assert 0.28 <= time.monotonic() - start < 2
    assert isinstance(info.value, TimeoutError)


def test_a_signal_does_not_end_the_wait(sem: shim.Semaphore) -> None:
    """sysv_ipc raises Error('Signaled while waiting'); here EINTR is
    retried with the time left, after the Python handler ran."""
    sem.acquire()
    seen: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda signo, frame: seen.append(signo))
    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
    try:
        start = time.monotonic()
        with pytest.raises(shim.BusyError):
            sem.acquire(0.5)
        assert time.monotonic() - start >= 0.48
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(seen) >= 3


def test_a_signal_does_not_end_a_blocking_receive(mq: shim.MessageQueue) -> None:
    seen: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda signo, frame: seen.append(signo))
    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
    sender = threading.Timer(0.4, lambda: unixipc.MessageQueue.from_id(mq.id).send(b"late"))
    sender.start()
    try:
        assert mq.receive() == (b"late", 1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        sender.join()
    assert seen


def test_release_in_a_child_is_not_undone_when_it_exits(sem: shim.Semaphore) -> None:
    """unixipc's native release() defaults to undo=True; sysv_ipc's to no
    undo: a child's plain release stays after it exits."""
    code = ("import sys, unixipc.compat.sysv_ipc as s; "
            "s.Semaphore(int(sys.argv[1])).release()")
    subprocess.run([sys.executable, "-c", code, str(sem.key)], check=True, timeout=30)
    assert sem.value == 2


def test_undo_and_block_settings_reach_the_hot_calls(sem: shim.Semaphore) -> None:
    """acquire() and release() take a fast path bound to the handle's
    settings: changing ``undo`` or ``block`` rebinds it."""
    code = ("import sys, unixipc.compat.sysv_ipc as s\n"
            "h = s.Semaphore(int(sys.argv[1])); h.undo = True; h.release(); h.V()\n")
    subprocess.run([sys.executable, "-c", code, str(sem.key)], check=True, timeout=30)
    assert sem.value == 1  # both undone when the child exited
    sem.acquire()
    sem.block = False
    with pytest.raises(shim.BusyError):
        sem.acquire()
    with pytest.raises(shim.BusyError):
        sem.P()
    sem.block = True
    sem.release()
    with sem:
        assert sem.value == 0
    assert sem.value == 1


def test_handles_do_not_pickle_as_the_packages_do_not(mq: shim.MessageQueue,
                                                      sem: shim.Semaphore) -> None:
    import pickle
    mem = shim.SharedMemory(None, shim.IPC_CREX, size=64)
    try:
        for handle in (mq, sem, mem):
            with pytest.raises(TypeError, match="cannot pickle .*open it by its key"):
                pickle.dumps(handle)
    finally:
        mem.detach()
        mem.remove()


def test_the_hot_calls_translate_errors() -> None:
    s = shim.Semaphore(None, shim.IPC_CREX, initial_value=1)
    s.remove()
    for call in (s.acquire, s.release, s.P, s.V):
        with pytest.raises(shim.ExistentialError):
            call()
    mq = shim.MessageQueue(None, shim.IPC_CREX)
    with pytest.raises(ValueError):
        mq.send(b"x" * 2049)  # past max_message_size (2048)
    mq.send(b"ok", type=3)
    assert mq.receive() == (b"ok", 3)
    mq.remove()
    with pytest.raises(shim.ExistentialError):
        mq.send(b"gone")
    with pytest.raises(shim.ExistentialError):
        mq.receive()
    with pytest.raises(shim.ExistentialError):
        mq.receive(block=False)


def test_flags_and_attributes(mq: shim.MessageQueue) -> None:
    with pytest.raises(ValueError):
        shim.MessageQueue(None, shim.IPC_CREAT)
    with pytest.raises(ValueError):
        shim.MessageQueue(mq.key, shim.IPC_EXCL)
    assert shim.MessageQueue(mq.key, shim.IPC_CREAT).id == mq.id
    mq.send(b"abc")
    assert (mq.current_messages, mq.last_send_pid, mq.uid) == (1, os.getpid(), os.geteuid())
    assert mq.max_size == unixipc.MessageQueue.from_id(mq.id).stat().max_bytes
    with pytest.raises(AttributeError):
        mq.current_messages = 3  # type: ignore[misc]


def test_shared_memory_detach_refused_while_a_view_lives() -> None:
    mem = shim.SharedMemory(None, shim.IPC_CREX, size=100)
    try:
        mem.write("hello")
        with pytest.raises(ValueError):
            mem.write(b"x" * 101)
        assert mem.read(5) == b"hello" and mem.read(0, 95) == b"     "
        # The buffer protocol on every interpreter (before 3.12 through the
        # C base _core.BufferForwarder): a view pins the attachment.
        view = memoryview(mem)
        assert (len(view), bytes(view[:5]), bytearray(mem)[:5]) == (100, b"hello", b"hello")
        view[0:1] = b"J"
        assert mem.read(5) == b"Jello"
        with pytest.raises(BufferError):
            mem.detach()
        assert mem.attached and mem.read(5) == b"Jello"  # still usable after the refusal
        view.release()
        mem.detach()
        with pytest.raises(shim.NotAttachedError):
            mem.read()
        with pytest.raises(shim.NotAttachedError):
            memoryview(mem)
    finally:
        mem.remove()


# ---- interop with the real sysv_ipc and with unixipc's native classes ----------------


def test_real_package_objects_used_by_the_shim_and_native() -> None:
    q = real.MessageQueue(None, real.IPC_CREX)
    s = real.Semaphore(None, real.IPC_CREX, initial_value=0)
    m = real.SharedMemory(None, real.IPC_CREX, size=64)
    try:
        q.send(b"from real", type=3)
        assert shim.MessageQueue(q.key).receive() == (b"from real", 3)
        q.send(b"again", type=4)
        assert unixipc.MessageQueue(q.key).receive() == unixipc.Message(4, b"again")
        shim.Semaphore(s.key).release()
        assert s.value == 1
        m.write(b"shared!")
        assert shim.SharedMemory(m.key).read(7) == b"shared!"
        assert unixipc.SharedMemory(m.key).read(7) == b"shared!"
    finally:
        q.remove()
        s.remove()
        m.detach()
        m.remove()


def test_shim_objects_used_by_the_real_package() -> None:
    q = shim.MessageQueue(None, shim.IPC_CREX)
    s = shim.Semaphore(None, shim.IPC_CREX, initial_value=2)
    m = shim.SharedMemory(None, shim.IPC_CREX, size=64, init_character=b"-")
    try:
        q.send("from shim", type=5)
        assert real.MessageQueue(q.key).receive() == (b"from shim", 5)
        real_sem = real.Semaphore(s.key)
        real_sem.block = False
        real_sem.acquire()
        real_sem.acquire()
        assert s.value == 0
        m.write(b"written by the shim")
        other = real.SharedMemory(m.key)
        assert other.read(19) == b"written by the shim" and other.read(22)[19:] == b"---"
        other.detach()
        native = unixipc.SemaphoreSet(s.key)
        native[0].release(3, undo=False)
        assert real_sem.value == 3
    finally:
        q.remove()
        s.remove()
        m.detach()
        m.remove()


def test_only_ipc_crex_fills_and_a_mode_without_write_attaches_read_only() -> None:
    """As sysv_ipc: init_character fills a segment made with IPC_CREX only
    (one made with IPC_CREAT alone is the kernel's zeros), and the
    constructor attaches read-only when the mode has no owner write bit."""
    first = shim.SharedMemory(None, shim.IPC_CREX, size=16)
    key = first.key
    first.detach()
    first.remove()
    mem = shim.SharedMemory(key, shim.IPC_CREAT, size=16)
    try:
        assert mem.read() == bytes(16)
        ro = shim.SharedMemory(key, mode=0o400)
        with pytest.raises(PermissionError):
            ro.write(b"x")
        assert ro.read(4) == bytes(4)
        ro.detach()
    finally:
        mem.detach()
        mem.remove()
