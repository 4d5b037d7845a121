"""Every C entry point of ``unixipc._core``, called many times, leaks nothing.

Modelled on psutil's ``test_memleaks.py``: each case is called a few times to
warm up (caches, free lists, the per-thread timer), then ``CALLS`` times
between two measurements; growth fails the case unless a longer run shows no
more growth than the shorter one (psutil's retry rule: noise does not keep
growing with the number of calls, a leak does). Measured after each run:

* Python objects: ``sys.getallocatedblocks()`` (exact, one block per leaked
  small object or reference that keeps one alive);
* the C heap: ``mallinfo2()`` bytes in use (a forgotten ``free``);
* USS, the process's private memory (anything else, e.g. a lost mapping);
* open descriptors, memory mappings (a forgotten ``shmdt``) and POSIX timers
  (a per-thread timer not deleted when its thread ends), with no tolerance
  (a thread's first run may map a malloc arena once: the retry rule above).

Success and error paths are both exercised: error paths are where
references are most often dropped. ``test_every_entry_point_has_a_case``
enumerates ``_core``'s functions, methods, properties and constructors: a
new entry point fails it until it gets a row in ``CASES``.

Under AddressSanitizer (the sanitizer leg of ``.ci/run``) the allocator is
ASan's, so the memory figures mean nothing: there each case runs a few times
for the sanitizer's sake and only descriptors, mappings and timers are checked.
"""

from __future__ import annotations

import ctypes
import gc
import os
import pickle
import queue
import signal
import socket
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import unixipc
from unixipc import _core, errors, msg, netdb, sockets
from unixipc.fifo import Fifo
from unixipc.pipe import Pipe
from unixipc.shmch import ShmChannel

from support import SANITIZED, frozen_heap, posix_name

pytestmark = pytest.mark.timeout(240)

#: Their full collections scan only what each test made (support.frozen_heap).
_frozen_heap = pytest.fixture(autouse=True)(frozen_heap)

CALLS = 40 if SANITIZED else 600
RETRIES = 4
WARMUP = 10
# Noise allowed per measurement (a leak of one small object or 16 bytes per
# call exceeds these after CALLS calls).
TOLERANCE = {"blocks": CALLS // 4, "heap": 8 * 1024, "uss": 64 * 1024}


# ---- measurements -------------------------------------------------------------

class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


_libc = ctypes.CDLL(None)
_mallinfo2 = getattr(_libc, "mallinfo2", None)
if _mallinfo2 is not None:
    _mallinfo2.restype = _Mallinfo2


def _heap_bytes() -> int:
    if _mallinfo2 is None:
        return 0
    info = _mallinfo2()
    return int(info.uordblks + info.hblkhd)


def _uss() -> int:
    total = 0
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    return total


def _count_lines(path: str, start: str = "") -> int:
    with open(path) as f:
        return sum(1 for line in f if line.startswith(start))


def _resources() -> dict[str, int]:
    return {"fds": len(os.listdir("/proc/self/fd")),
            "maps": _count_lines("/proc/self/maps"),
            "timers": _count_lines("/proc/self/timers", "ID:")}


def _memory() -> dict[str, int]:
    if SANITIZED:
        return {}
    return {"blocks": sys.getallocatedblocks(), "heap": _heap_bytes(), "uss": _uss()}


def _run(fun: Callable[[], object], times: int) -> tuple[dict[str, int], dict[str, int]]:
    gc.collect()
    mem0, res0 = _memory(), _resources()
    for _ in range(times):
        fun()
    del _
    gc.collect()
    mem1, res1 = _memory(), _resources()
    return ({k: mem1[k] - mem0[k] for k in mem0}, {k: res1[k] - res0[k] for k in res0})


def assert_no_leak(fun: Callable[[], object]) -> None:
    for _ in range(WARMUP):
        fun()
    times, previous, report = CALLS, None, []
    for attempt in range(1, RETRIES + 1):
        mem, res = _run(fun, times)
        mem.update(res)
        report.append(f"run {attempt} ({times} calls): {mem}")
        over = {k for k, v in mem.items() if v > TOLERANCE.get(k, 0)}
        # psutil's rule: a second run that grows no more than the first is noise.
        if not over or (previous is not None
                        and all(mem[k] <= previous[k] for k in over)):
            return
        previous, times = mem, times + CALLS
    pytest.fail("grows with the number of calls: " + "; ".join(report))


# ---- fixtures of the cases ------------------------------------------------------

def _raises(exc: type[BaseException] | tuple[type[BaseException], ...],
            fun: Callable[..., object], *args: Any, **kwargs: Any) -> Callable[[], None]:
    def call() -> None:
        try:
            fun(*args, **kwargs)
        except exc:
            return
        raise AssertionError(f"{fun} did not raise {exc}")
    return call


def _both(*calls: Callable[[], object]) -> Callable[[], None]:
    def call() -> None:
        for c in calls:
            c()
    return call


class World:
    """The kernel objects the cases use, created once per case, removed after."""

    def __init__(self, tmp: str, track: Callable[[str, int], int]) -> None:
        self.tmp = tmp
        self.mq = msg.MessageQueue(create=True)
        track("msg", self.mq.id)
        self.sems = unixipc.SemaphoreSet(count=3, create=True)
        track("sem", self.sems.id)
        self.shm = unixipc.SharedMemory(size=4096, create=True)
        track("shm", self.shm.id)
        self.pipe = Pipe()
        self.stream = sockets.MessageChannel.pair()
        self.packet = sockets.MessageChannel.pair("seqpacket")
        self.fifo_path = os.path.join(tmp, "fifo")
        os.mkfifo(self.fifo_path)
        self.gone_mq = _core.msgget(_core.IPC_PRIVATE, _core.IPC_CREAT | 0o600)
        _core.msgctl_rmid(self.gone_mq)
        self.shmch = ShmChannel(capacity=1 << 14)
        self.queues: list[unixipc.Queue] = []

    def close(self) -> None:
        self.shmch.close()
        for q in self.queues:
            q.close()
        self.pipe.reader.close()
        self.pipe.writer.close()
        for a, b in (self.stream, self.packet):
            a.close()
            b.close()
        self.shm.detach()
        for obj in (self.mq, self.sems, self.shm):
            obj.remove()


def _mq_roundtrip(w: World) -> None:
    w.mq.send(b"x" * 100, 3)
    w.mq.receive()


def _create_remove(get: Callable[[], int], rmid: Callable[[int], None]) -> Callable[[], None]:
    return lambda: rmid(get())


def _semset_new(w: World) -> None:
    s = _core.SemaphoreSetBase()
    s._bind(w.sems.id, 3)
    len(s)
    s.id


def _sem_new(w: World) -> None:
    s = _core.SemaphoreBase()
    s._bind(w.sems.id, 1)
    s.index, s.semid


def _psem_lifecycle(name: str) -> Callable[[], None]:
    def call() -> None:
        h = _core.psem_open(name, os.O_CREAT | os.O_EXCL, 0o600, 1)
        h.closed
        h.close()
        _core.psem_unlink(name)
        try:
            _core.psem_open(name, 0, 0, 0)
        except FileNotFoundError:
            pass
        try:
            _core.psem_unlink(name)
        except FileNotFoundError:
            pass
    return call


def _pshm_lifecycle(name: str) -> Callable[[], None]:
    def call() -> None:
        fd = _core.pshm_open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        _raises(FileExistsError, _core.pshm_open, name, os.O_RDWR | os.O_CREAT | os.O_EXCL,
                0o600)()
        _core.pshm_unlink(name)
        _raises(FileNotFoundError, _core.pshm_open, name, os.O_RDWR, 0)()
        _raises(FileNotFoundError, _core.pshm_unlink, name)()
        _raises(ValueError, _core.pshm_open, name, os.O_TRUNC, 0)()
    return call


def _pshm_segment(name: str) -> Callable[[], None]:
    """The Python class over pshm_open, os and mmap: creation (and a failed
    one), mappings, copies, resize, pickling of the anonymous form."""
    import pickle
    from unixipc import posix

    def call() -> None:
        with posix.SharedMemory(name, 8192, exclusive=True) as shm:
            view = shm.attach()
            view[:3] = b"abc"
            _raises(BufferError, shm.detach)()
            view.release()
            shm.write(b"xyz", 100)
            shm.read(3, 100)
            shm.detach()
            shm.resize(4096)
            posix.SharedMemory(name).close()
        _raises(OSError, posix.SharedMemory, name, 2**50, exclusive=True)()
        anon = posix.SharedMemory.anonymous(4096)
        anon.attach(readonly=True).release()
        copy = pickle.loads(pickle.dumps(anon))
        copy.close()
        anon.close()
    return call


def _pmq_lifecycle(name: str) -> Callable[[], None]:
    def call() -> None:
        h = _core.pmq_open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600, 2, 16)
        h.closed
        h.fileno()
        h.getattr()
        h.close()
        _core.pmq_unlink(name)
        _raises(FileNotFoundError, _core.pmq_open, name, os.O_RDWR, 0, 0, 0)()
        _raises(FileNotFoundError, _core.pmq_unlink, name)()
        _raises(OSError, _core.pmq_open, name, os.O_CREAT, 0o600, 2**20, 16)()
    return call


def _pmq_io(name: str) -> Callable[[], None]:
    h = _core.pmq_open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600, 2, 16)
    _core.pmq_unlink(name)  # the handle keeps it; the closure's end closes it
    token = bytearray(1)

    def call() -> None:
        h.send(b"abc", 3)
        h.send(memoryview(b"de"), timeout=1)
        h.receive(timeout=1)
        h.receive(_cancel=token)
        h.send(b"x", block=False)
        h.send(b"y", _cancel=token)
        _raises(BlockingIOError, h.send, b"z", block=False)()
        _raises(TimeoutError, h.send, b"z", timeout=0.0001)()
        _raises(ValueError, h.send, b"z" * 17)()
        h.receive(block=False)
        h.receive()
        _raises(BlockingIOError, h.receive, block=False)()
        _raises(TimeoutError, h.receive, timeout=0.0001)()
        h.notify(signal.SIGUSR2)
        h.notify(None)
        h.notify_thread(1)
        _raises(OSError, h.notify_thread, 2)()  # EBUSY: registered already
        h.notify(None)
        _raises(ValueError, h.notify_thread, 0)()
    return call


def _psem_waits(name: str) -> Callable[[], None]:
    h = _core.psem_open(name, os.O_CREAT | os.O_EXCL, 0o600, 0)
    _core.psem_unlink(name)  # the handle keeps it; the closure's end closes it
    token = bytearray(1)

    def call() -> None:
        h.release()
        h.getvalue()
        h.acquire(timeout=1)
        h.release()
        h.acquire(_cancel=token)
        _raises(BlockingIOError, h.acquire, block=False)()
        _raises(TimeoutError, h.acquire, timeout=0.0001)()
    return call


def _pmq_message_type() -> None:
    from unixipc import posix
    _core._pmq_set_message_type(posix.Message)  # what unixipc.posix registered
    _raises(TypeError, _core._pmq_set_message_type, int)()


def _psem_unnamed() -> Callable[[], None]:
    """sem_init / attach in a buffer, waits, and every refusal (the
    buffer export is released on each path: the mapping closes at the end)."""
    import mmap
    m = mmap.mmap(-1, 4096)
    ro = memoryview(m).toreadonly()

    def call() -> None:
        h = _core.psem_init(m, 8, 1)
        g = _core.psem_at(m, 8)
        g.acquire(block=False)
        _raises(TimeoutError, h.acquire, timeout=0)()
        h.release()
        g.getvalue()
        g.close()
        h.close()
        h.closed
        _core.psem_init(bytearray(64), 0, 0)  # collected unclosed
        _raises(ValueError, _core.psem_init, ro, 0, 0)()
        _raises(ValueError, _core.psem_init, m, 1, 0)()
        _raises(ValueError, _core.psem_at, m, 4096)()
        _raises(ValueError, _core.psem_init, m, 0, -1)()
        _raises(TypeError, _core.psem_at, "text", 0)()
        _raises(ValueError, _core.psem_at, memoryview(bytearray(64))[::2], 0)()
    return call


def _queue(w: World) -> Callable[[], None]:
    """QueueBase's put and get, on their common path and on each way to
    the Python class's part (bytes, out-of-band buffers, a pickling error,
    arguments, an empty queue), _send_pickle (the Python part's call) and a
    bare QueueBase (no Python part)."""
    q = unixipc.Queue(capacity=1 << 14)
    w.queues.append(q)
    small = {"id": 1, "tags": ["a"]}

    def call() -> None:
        q.put(small)
        q.get()
        q.put(b"raw")
        q.get()
        q.put(b"")
        q.get()
        q.put(b"z" * 5000)  # past QUEUE_SMALL: a record, copied out past its tag
        q.get()
        q.put(pickle.PickleBuffer(bytearray(b"oob")))
        q.get()
        try:
            q.put(lambda: None)
        except (pickle.PicklingError, AttributeError):
            pass
        q.put(small, timeout=1)
        q.get(timeout=1)
        try:
            q.get(False)
        except queue.Empty:
            pass
        q._core_reset()
        assert not q._inherited
        assert q._send_pickle(pickle.dumps(small, 5))
        q.get()
        for bad, error in ((bytearray(b"x"), TypeError), (b"x" * (1 << 15), ValueError)):
            try:
                q._send_pickle(bad)
            except error:
                pass
        bare = _core.QueueBase()
        try:
            bare._send_pickle(b"x")
        except TypeError:
            pass
        try:
            bare.put(small)
        except AttributeError:
            pass
        try:
            bare.get()
        except AttributeError:
            pass
    return call


def _attachment(w: World) -> None:
    att = _core.shmat(w.shm.id, False)
    view = memoryview(att)
    view[0] = 1
    att.attached, att.size, att.readonly, att.exports, att.address
    view.release()
    att.detach()


class _Forwarding(_core.BufferForwarder):
    def __init__(self, source: object) -> None:
        self.source = source

    def _buffer_source(self) -> object:
        return self.source


def _forwarder(w: World) -> None:
    data = bytearray(b"abc")
    with memoryview(_Forwarding(data)) as view:
        view[0] = 65
    _raises(TypeError, memoryview, _Forwarding(42))()


def _pipe_end(w: World) -> None:
    r, wr = os.pipe()
    end = _core.PipeEnd(r)
    end.closed, end.fileno()
    end._close_fd()
    other = _core.PipeEnd(wr)
    os.close(other._detach_fd())


def _pipe_io(w: World) -> None:
    w.pipe.writer.write(b"y" * 300)
    w.pipe.reader.read(300)


def _raw_io(w: World) -> None:
    _core.write(w.pipe.writer.fileno(), b"z" * 50)
    _core.read(w.pipe.reader.fileno(), 50)


def _fifo_open(w: World) -> None:
    r = _core.open_fifo(w.fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    assert r is not None
    os.close(r)


def _channel(pair: tuple[sockets.MessageChannel, sockets.MessageChannel],
             fds: bool) -> Callable[[], None]:
    a, b = pair

    def call() -> None:
        if fds:
            a.send(b"m" * 200, [0])
            msg = b.receive(timeout=5)
            for fd in msg.fds:
                os.close(fd)
        else:
            a.send(b"m" * 200)
            b.receive(timeout=5)
    return call


def _channel_held(pair: tuple[sockets.MessageChannel, sockets.MessageChannel]
                  ) -> Callable[[], None]:
    a, b = pair

    def call() -> None:
        a.send_many([b"m" * 100, b"n" * 10])
        a.flush(timeout=5)
        a._check_send(b"p", [0])
        try:
            a._check_send(b"p", [-1])
        except ValueError:
            pass
        left = a._hold(0, True, 5.0)
        try:
            a._send_held(b"o" * 50, timeout=left)
            a._flush_held(block=False)
        finally:
            a._unhold(0)
        b._hold(1, True, None)
        try:
            for _ in range(3):
                b._receive_held(timeout=5)
            try:
                b._receive_held(block=False)
            except BlockingIOError:
                pass
        finally:
            b._unhold(1)
    return call


def _channel_new(w: World) -> None:
    a, b = socket.socketpair()
    chan = sockets.MessageChannel(a)
    peer = sockets.MessageChannel(b)
    peer.send(b"first", [0])
    peer.send(b"x" * 300)
    for fd in chan.receive(timeout=5).fds:
        os.close(fd)
    peer.send(b"unclaimed", [0])  # maybe read and queued: close() closes it
    chan.max_size = 10
    try:
        chan.receive(timeout=5)
    except sockets.FrameTooLargeError:
        pass
    assert chan._state()["broken"] is not None
    try:
        peer.send(b"y" * (1 << 20), timeout=0.001)  # the socket buffer fills
    except TimeoutError:
        pass
    assert peer.pending > 0  # close() drops the rest
    chan.close()
    peer.close()


def _pause_in_thread() -> None:
    def body() -> None:
        try:
            _core._pause(0.0005)
        except TimeoutError:
            pass
    t = threading.Thread(target=body)
    t.start()
    t.join()


def _set_error_table(w: World) -> None:
    _core._set_error_table(errors.ERRNO_CLASSES)


def _shmch(w: World) -> Callable[[], None]:
    ch = w.shmch

    def call() -> None:
        ch.send(b"m" * 100)
        ch.receive()
        ch.send_many([b"a", b"b"])
        ch.receive_many(2)
        ch._send_parts([b"p", bytearray(b"ar"), memoryview(b"ts")])
        ch.receive()
        ch.send(b"s" * 10)
        ch._receive_auto(10)
        ch.send(b"l" * 11)
        ch._receive_auto(10).end()
        try:
            ch._send_parts([b"x" * ch.max_message_size, b"y"])
        except ValueError:
            pass
        ch.send(b"into")
        ch.receive_into(bytearray(8))
        ch.send(b"view")
        rec = ch._receive_record()
        with memoryview(rec) as v:
            v.nbytes
        rec.nbytes
        rec.end()
        ch.capacity, ch.max_message_size, ch.closed, ch._sides, ch._state()
        ch.send(b"counted")
        ch._pending(10)
        ch.receive()
        ch._after_fork()
        ch._async_waiting(0, 1)
        ch._wait_change(0, ch._async_waiting(0, 0) + 1, 0.01)
        ch._async_waiting(0, -1)
        try:
            ch.receive(block=False)
        except BlockingIOError:
            pass
    return call


def _shmch_lifecycle(w: World) -> None:
    ch = ShmChannel(capacity=4096)
    ch.close_sending()
    ch.close_receiving()
    ch.close()
    fd = os.memfd_create("leak", os.MFD_CLOEXEC)
    _core.shmch_format(fd, 4096, 4)
    os.close(fd)


CaseFactory = Callable[[World], Callable[[], object]]

#: entry point name(s) -> a callable exercising it, built from the world.
CASES: dict[str, CaseFactory] = {
    # module / keys / errors / blocking
    "ftok": lambda w: _both(lambda: _core.ftok(w.tmp, 7),
                            _raises(FileNotFoundError, _core.ftok, w.tmp + "/no", 7)),
    "_set_error_table": lambda w: lambda: _set_error_table(w),
    "_raise_errno": lambda w: _raises(OSError, _core._raise_errno, "leaky", 43),
    "_pause": lambda w: _pause_in_thread,
    "_cancel_signal": lambda w: _core._cancel_signal,
    # msg
    "MessageQueueBase()": lambda w: lambda: msg.MessageQueue.from_id(w.mq.id),
    "MessageQueueBase.send MessageQueueBase.receive": lambda w: lambda: _mq_roundtrip(w),
    "MessageQueueBase.send_many MessageQueueBase.receive_many": lambda w: lambda: (
        w.mq.send_many([b"a" * 10, (2, b"b" * 700)]), w.mq.receive_many(2)),
    "MessageQueueBase._peek": lambda w: _both(
        lambda: w.mq.send(b"p"), lambda: w.mq._peek(0), lambda: w.mq.receive()),
    "MessageQueueBase.receive (errors)": lambda w: _both(
        _raises(BlockingIOError, w.mq.receive, block=False),
        _raises(TimeoutError, w.mq.receive, timeout=0),
        _raises(OSError, msg.MessageQueue.from_id, w.gone_mq)),
    "msgget msgctl_rmid": lambda w: _both(
        _create_remove(lambda: _core.msgget(_core.IPC_PRIVATE, _core.IPC_CREAT | 0o600),
                       _core.msgctl_rmid),
        _raises(FileNotFoundError, _core.msgget, 0x7E57_1EAF, 0)),
    "msgctl_stat msgctl_set": lambda w: lambda: _core.msgctl_set(
        w.mq.id, 0o600, os.getuid(), os.getgid(), _core.msgctl_stat(w.mq.id)["max_bytes"]),
    "msgctl_info": lambda w: lambda: (_core.msgctl_info(_core.IPC_INFO),
                                      _core.msgctl_info(_core.MSG_INFO)),
    "msgctl_msg_stat": lambda w: lambda: _raises(OSError, _core.msgctl_msg_stat, 10**6, True)(),
    "_msg_set_message_type": lambda w: lambda: _core._msg_set_message_type(msg.Message),
    "_msg_receive_eager": lambda w: lambda: _core._msg_receive_eager(
        _core._msg_receive_eager(True)),
    # sem
    "SemaphoreSetBase() SemaphoreSetBase._bind SemaphoreSetBase.__len__ SemaphoreSetBase.id":
        lambda w: lambda: _semset_new(w),
    "SemaphoreSetBase.op": lambda w: _both(
        lambda: w.sems.op((0, 1), (1, 2)), lambda: w.sems.op((0, -1), (1, -2)),
        _raises(BlockingIOError, w.sems.op, (2, -1), block=False),
        _raises(TimeoutError, w.sems.op, (2, -1), timeout=0.0001)),
    "SemaphoreBase() SemaphoreBase._bind SemaphoreBase.index SemaphoreBase.semid":
        lambda w: lambda: _sem_new(w),
    "SemaphoreBase.acquire SemaphoreBase.release SemaphoreBase.wait_zero": lambda w: _both(
        lambda: w.sems[0].release(2), lambda: w.sems[0].acquire(2), w.sems[0].wait_zero,
        _raises(BlockingIOError, w.sems[0].acquire, block=False)),
    "semget semctl_rmid": lambda w: _create_remove(
        lambda: _core.semget(_core.IPC_PRIVATE, 2, _core.IPC_CREAT | 0o600), _core.semctl_rmid),
    "semctl_stat semctl_set": lambda w: lambda: (
        _core.semctl_stat(w.sems.id), _core.semctl_set(w.sems.id, os.getuid(), os.getgid(), 0o600)),
    "semctl_get semctl_setval": lambda w: lambda: (
        _core.semctl_setval(w.sems.id, 1, 5), _core.semctl_get(w.sems.id, 1, _core.GETVAL)),
    "semctl_getall semctl_setall": lambda w: _both(
        lambda: _core.semctl_setall(w.sems.id, _core.semctl_getall(w.sems.id, 3), 3),
        _raises(OSError, _core.semctl_getall, w.sems.id, 5)),
    "sem_info sem_stat": lambda w: lambda: (
        _core.sem_info(_core.IPC_INFO), _core.sem_info(_core.SEM_INFO),
        _raises(OSError, _core.sem_stat, 10**6)()),
    # shm
    "shmget shmctl_rmid": lambda w: _create_remove(
        lambda: _core.shmget(_core.IPC_PRIVATE, 8192, _core.IPC_CREAT | 0o600), _core.shmctl_rmid),
    "shmat Attachment.detach Attachment.__buffer__ Attachment.__release_buffer__ "
    "Attachment.attached Attachment.size Attachment.readonly Attachment.exports "
    "Attachment.address": lambda w: lambda: _attachment(w),
    "(BufferForwarder) BufferForwarder.__buffer__": lambda w: lambda: _forwarder(w),
    "shmctl_stat shmctl_set": lambda w: lambda: (
        _core.shmctl_stat(w.shm.id), _core.shmctl_set(w.shm.id, os.getuid(), os.getgid(), 0o600)),
    "shmctl_lock": lambda w: lambda: (_core.shmctl_lock(w.shm.id, True),
                                      _core.shmctl_lock(w.shm.id, False)),
    "shm_info shm_stat": lambda w: lambda: (
        _core.shm_info(_core.IPC_INFO), _core.shm_info(_core.SHM_INFO),
        _raises(OSError, _core.shm_stat, 10**6)()),
    # pipe / fifo
    "read write": lambda w: lambda: _raw_io(w),
    "PipeEnd() PipeEnd.closed PipeEnd.fileno PipeEnd._close_fd PipeEnd._detach_fd":
        lambda w: lambda: _pipe_end(w),
    "PipeEnd.read PipeEnd.write": lambda w: _both(
        lambda: _pipe_io(w), _raises(BlockingIOError, w.pipe.reader.read, 10, block=False)),
    "open_fifo": lambda w: _both(
        lambda: _fifo_open(w),
        _raises(FileNotFoundError, _core.open_fifo, w.tmp + "/none", os.O_RDONLY)),
    # netdb
    "getservent getprotoent getnetent gethostent": lambda w: lambda: (
        _core.getservent(), _core.getprotoent(), _core.getnetent(), _core.gethostent()),
    "getservbyname_r getservbyport_r": lambda w: lambda: (
        _core.getservbyname_r("ssh", "tcp"), _core.getservbyport_r(22, None),
        _core.getservbyname_r("no-such-service", None)),
    "getprotobyname_r getprotobynumber_r": lambda w: lambda: (
        _core.getprotobyname_r("tcp"), _core.getprotobynumber_r(17),
        _core.getprotobyname_r("no-such-proto")),
    "getnetbyname_r getnetbyaddr_r": lambda w: lambda: (
        _core.getnetbyname_r("loopback"), _core.getnetbyaddr_r(127, socket.AF_INET),
        _core.getnetbyname_r("no-such-net")),
    "getaddrinfo": lambda w: lambda: (
        netdb.address_info("127.0.0.1", 22, flags=netdb.AddressInfoFlags.AI_NUMERICHOST),
        netdb.address_info("::1", "ssh", type=socket.SOCK_STREAM,
                           flags=netdb.AddressInfoFlags.AI_NUMERICHOST
                           | netdb.AddressInfoFlags.AI_CANONNAME),
        _core.getaddrinfo("x", None, 0, 0, 0, _core.AI_NUMERICHOST)),
    "getnameinfo": lambda w: lambda: (
        _core.getnameinfo("127.0.0.1", 22, 0, 0, _core.NI_NUMERICHOST | _core.NI_NUMERICSERV),
        _core.getnameinfo("::1", 22, 0, 0, _core.NI_NUMERICHOST),
        _raises(ValueError, _core.getnameinfo, "nonsense", 22, 0, 0, 0)()),
    "gai_strerror": lambda w: lambda: _core.gai_strerror(_core.EAI_NONAME),
    # sock
    "ChannelBase() ChannelBase._setup ChannelBase._close_wait ChannelBase._state "
    "ChannelBase.max_size ChannelBase.pending": lambda w: lambda: _channel_new(w),
    "ChannelBase._hold ChannelBase._unhold ChannelBase._send_held ChannelBase._receive_held "
    "ChannelBase.send_many ChannelBase.flush ChannelBase._flush_held ChannelBase._check_send":
        lambda w: _channel_held(w.stream),
    "ChannelBase.send_many (seqpacket)": lambda w: _channel_held(w.packet),
    "ChannelBase.send ChannelBase.receive": lambda w: _channel(w.stream, fds=False),
    "ChannelBase.send ChannelBase.receive (seqpacket, fds)": lambda w: _channel(w.packet, True),
    "ChannelBase.receive (errors)": lambda w: _both(
        _raises(BlockingIOError, w.stream[1].receive, block=False),
        _raises(TimeoutError, w.packet[1].receive, timeout=0.0001)),
    "_sock_set_types": lambda w: lambda: _core._sock_set_types(
        sockets.ChannelMessage, errors.ChannelClosedError, sockets.IncompleteMessageError,
        sockets.FrameTooLargeError, errors.MessageTooLongError),
    # shmch
    "ShmChannelBase.send ShmChannelBase.receive ShmChannelBase.send_many ShmChannelBase._send_parts "
    "ShmChannelBase._receive_auto "
    "ShmChannelBase.receive_many ShmChannelBase.receive_into ShmChannelBase._receive_record "
    "ShmRecord.end ShmRecord.nbytes ShmRecord.__buffer__ ShmRecord.__release_buffer__ "
    "ShmChannelBase.capacity ShmChannelBase.max_message_size "
    "ShmChannelBase.closed ShmChannelBase._sides ShmChannelBase._state ShmChannelBase._pending "
    "ShmChannelBase._after_fork ShmChannelBase._async_waiting "
    "ShmChannelBase._wait_change": _shmch,
    "QueueBase() QueueBase.put QueueBase.get QueueBase._core_reset QueueBase._inherited "
    "QueueBase._send_pickle": _queue,
    "ShmChannelBase() ShmChannelBase.close_sending ShmChannelBase.close_receiving "
    "ShmChannelBase._close shmch_format": lambda w: lambda: _shmch_lifecycle(w),
    # psem
    "psem_open psem_unlink PosixSemaphore.close PosixSemaphore.closed":
        lambda w: _psem_lifecycle(posix_name("leak")),
    "PosixSemaphore.acquire PosixSemaphore.release PosixSemaphore.getvalue":
        lambda w: _psem_waits(posix_name("leak")),
    "psem_init psem_at (unnamed)": lambda w: _psem_unnamed(),
    "_pmq_set_message_type": lambda w: _pmq_message_type,
    # pmq
    "pmq_open pmq_unlink PosixMessageQueue.close PosixMessageQueue.closed "
    "PosixMessageQueue.fileno PosixMessageQueue.getattr":
        lambda w: _pmq_lifecycle(posix_name("leak")),
    "PosixMessageQueue.send PosixMessageQueue.receive PosixMessageQueue.notify "
    "PosixMessageQueue.notify_thread":
        lambda w: _pmq_io(posix_name("leak")),
    # pshm
    "pshm_open pshm_unlink": lambda w: _pshm_lifecycle(posix_name("leak")),
    "(posix.SharedMemory)": lambda w: _pshm_segment(posix_name("leak")),
}


def _entry_points() -> Iterator[str]:
    """Every callable of _core whose code is ours: functions, methods,
    properties, constructors and type slots (``__len__``, buffers)."""
    for name, obj in vars(_core).items():
        if isinstance(obj, types.BuiltinFunctionType):
            yield name
        elif isinstance(obj, type) and obj.__module__ == _core.__name__:
            if "__new__" in vars(obj) or "__init__" in vars(obj):
                yield f"{name}()"
            for attr, value in vars(obj).items():
                if attr in ("__new__", "__init__", "__doc__", "__module__"):
                    continue
                if isinstance(value, (types.MethodDescriptorType, types.GetSetDescriptorType,
                                      types.WrapperDescriptorType)):
                    yield f"{name}.{attr}"


def _covered() -> set[str]:
    return {word for key in CASES for word in key.split(" ") if not word.startswith("(")}


def test_every_entry_point_has_a_case():
    missing = sorted(set(_entry_points()) - _covered())
    assert not missing, f"add a row to CASES in {__file__} for: {missing}"
    # and the enumeration itself finds something on this version
    assert "msgget" in set(_entry_points()) and "PipeEnd.read" in set(_entry_points())


@pytest.fixture
def world(tmp_path, ipc_tracker) -> Iterator[World]:
    w = World(str(tmp_path), ipc_tracker.track)
    try:
        yield w
    finally:
        w.close()


@pytest.mark.parametrize("case", list(CASES))
def test_no_leak(case, world):
    assert_no_leak(CASES[case](world))


def test_the_check_sees_a_leak():
    kept: list[object] = []
    with pytest.raises(pytest.fail.Exception, match=r"'fds': [1-9]"):
        assert_no_leak(lambda: kept.append(os.dup(0)))
    for fd in kept:
        os.close(fd)  # type: ignore[arg-type]
    if not SANITIZED:
        kept.clear()
        with pytest.raises(pytest.fail.Exception, match=r"'blocks': [1-9][0-9][0-9]"):
            assert_no_leak(lambda: kept.append(object()))
