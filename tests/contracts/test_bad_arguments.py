"""Bad arguments raise TypeError or ValueError before any system call, never
OverflowError, MemoryError, AttributeError or NotImplementedError, and
leave nothing behind: no descriptor, no child process, no file, no change
to the kernel object. One row per call; a new mechanism adds its rows.

A multi-dimensional memoryview is not a flat sequence of items (iterating
one raises NotImplementedError): where a call takes a sequence of ints or
of messages it is refused with TypeError."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import unixipc
from unixipc import netdb, posix, sockets
from support import posix_name


def _two_d() -> memoryview:
    return memoryview(bytearray(8)).cast("B", (2, 4))


def _two_d_ints() -> memoryview:
    return memoryview(bytearray(8)).cast("i", (1, 2))


class Objects:
    """Makes the objects a row calls on, checks afterwards that each is as
    it was, and removes them."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._checks: list[Callable[[], None]] = []
        self._cleanups: list[Callable[[], None]] = []

    def pipe(self, data: bytes = b"") -> unixipc.Pipe:
        p = unixipc.Pipe()
        self._cleanups.append(p.close)
        if data:
            p.writer.write(data)
        self._checks.append(lambda: self._pipe_holds(p, data))
        return p

    @staticmethod
    def _pipe_holds(p: unixipc.Pipe, data: bytes) -> None:
        if p.reader.closed:
            return
        if data:
            assert p.reader.read(len(data) + 1, block=False) == data
        else:
            with pytest.raises(BlockingIOError):
                p.reader.read(1, block=False)

    def path(self, name: str) -> str:
        path = str(self.tmp_path / name)
        self._checks.append(lambda: self._absent(path))
        return path

    @staticmethod
    def _absent(path: str) -> None:
        assert not os.path.lexists(path), path

    def semaphores(self) -> unixipc.SemaphoreSet:
        s = unixipc.SemaphoreSet(count=2, create=True)
        self._cleanups.append(s.remove)
        s.values = [3, 4]
        self._checks.append(lambda: self._equal(s.values, [3, 4]))
        return s

    def queue(self) -> unixipc.MessageQueue:
        q = unixipc.MessageQueue(create=True)
        self._cleanups.append(q.remove)
        self._checks.append(lambda: self._equal(q.stat().message_count, 0))
        return q

    def posix_queue(self) -> posix.MessageQueue:
        mq = posix.MessageQueue(posix_name("badarg"), exclusive=True, max_messages=2,
                                max_message_size=8)
        mq.unlink()  # the handle keeps it; no name is left
        self._cleanups.append(mq.close)
        self._checks.append(lambda: self._equal(mq.attributes().current_messages, 0))
        return mq

    def posix_name(self) -> str:
        name = posix_name("badarg")
        self._checks.append(lambda: self._no_queue(name))
        return name

    @staticmethod
    def _no_queue(name: str) -> None:
        with pytest.raises(FileNotFoundError):
            posix.MessageQueue(name)

    def posix_segment(self, anonymous: bool = False) -> posix.SharedMemory:
        if anonymous:
            shm = posix.SharedMemory.anonymous(16)
        else:
            shm = posix.SharedMemory(posix_name("badarg"), 16, exclusive=True)
            shm.unlink()  # the descriptor keeps it; no name is left
        shm.write(b"0123456789abcdef")
        self._cleanups.append(shm.close)
        self._checks.append(lambda: self._equal((shm.size, shm.read()),
                                                (16, b"0123456789abcdef")))
        return shm

    def shared_mmap(self) -> Any:
        import mmap
        m = mmap.mmap(-1, 4096)
        m[:8] = b"untouchd"
        # nothing was initialised in it, and no export is left (close works)
        self._checks.append(lambda: self._equal(m[:8], b"untouchd"))
        self._cleanups.append(m.close)
        return m

    def posix_shm_name(self) -> str:
        name = posix_name("badarg")
        self._checks.append(lambda: self._absent("/dev/shm" + name))
        return name

    def channel(self, kind: int = socket.SOCK_STREAM) -> sockets.MessageChannel:
        a, b = socket.socketpair(socket.AF_UNIX, kind)
        ours, peer = sockets.MessageChannel(a), sockets.MessageChannel(b)
        self._cleanups += [ours.close, peer.close]
        self._checks.append(lambda: self._nothing_arrives(peer))
        return ours

    def socket(self) -> socket.socket:
        a, b = socket.socketpair(socket.AF_UNIX)
        self._cleanups += [a.close, b.close]
        return a

    def shm_channel(self) -> unixipc.ShmChannel:
        ch = unixipc.ShmChannel(capacity=4096)
        self._cleanups.append(ch.close)
        self._checks.append(lambda: self._nothing_arrives(ch))
        return ch

    @staticmethod
    def _nothing_arrives(peer: sockets.MessageChannel | unixipc.ShmChannel) -> None:
        with pytest.raises(BlockingIOError):
            peer.receive(block=False)

    @staticmethod
    def _equal(got: object, expected: object) -> None:
        assert got == expected

    def check(self) -> None:
        for check in self._checks:
            check()

    def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            cleanup()


@dataclass(frozen=True)
class Row:
    make: Callable[[Objects], Callable[[], Any]]  # makes the objects, returns the call
    error: type[Exception]  # TypeError or ValueError
    match: str  # in the message: it names the argument


ROWS: dict[str, Row] = {
    # pipes
    "pipe read size above sys.maxsize": Row(
        lambda o: partial(o.pipe(b"data").reader.read, sys.maxsize + 1), ValueError, "size"),
    "pipe read size below -sys.maxsize": Row(
        lambda o: partial(o.pipe(b"data").reader.read, -sys.maxsize - 2), ValueError, "size"),
    "pipe read size bool": Row(
        lambda o: partial(o.pipe(b"data").reader.read, True), TypeError, "size"),
    "pipe read size not an int": Row(
        lambda o: partial(o.pipe(b"data").reader.read, 1.5), TypeError, "integer"),
    "pipe read timeout negative": Row(
        lambda o: partial(o.pipe(b"data").reader.read, 4, timeout=-1), ValueError, "timeout"),
    "pipe write data str": Row(
        lambda o: partial(o.pipe().writer.write, "text"), TypeError, "bytes-like"),
    "pipe write timeout str": Row(
        lambda o: partial(o.pipe().writer.write, b"x", timeout="1"), TypeError, "timeout"),
    # FIFOs
    "mkfifo dir_fd above a C int": Row(
        lambda o: partial(unixipc.mkfifo, o.path("f"), dir_fd=2**40), ValueError, "dir_fd"),
    "mkfifo dir_fd negative": Row(
        lambda o: partial(unixipc.mkfifo, o.path("f"), dir_fd=-5), ValueError, "dir_fd"),
    "mkfifo mode above 0o7777": Row(
        lambda o: partial(unixipc.mkfifo, o.path("f"), 0o10000), ValueError, "mode"),
    "Fifo dir_fd above a C int": Row(
        lambda o: partial(unixipc.Fifo, o.path("f"), create=True, dir_fd=2**40),
        ValueError, "dir_fd"),
    # coprocesses
    "Coprocess env bytes": Row(
        lambda o: partial(unixipc.Coprocess, ["cat"], env=b"x"), TypeError, "env"),
    "Coprocess env list": Row(
        lambda o: partial(unixipc.Coprocess, ["cat"], env=["A=1"]), TypeError, "env"),
    "Coprocess env value int": Row(
        lambda o: partial(unixipc.Coprocess, ["cat"], env={"A": 1}), TypeError, "env"),
    "Coprocess env name with =": Row(
        lambda o: partial(unixipc.Coprocess, ["cat"], env={"A=B": "1"}), ValueError, "env"),
    "Coprocess env value with NUL": Row(
        lambda o: partial(unixipc.Coprocess, ["cat"], env={"A": "\0"}), ValueError, "env"),
    "Coprocess stderr above a C int": Row(
        lambda o: partial(unixipc.Coprocess, ["cat"], stderr=2**40), ValueError, "stderr"),
    "Coprocess stderr negative": Row(
        lambda o: partial(unixipc.Coprocess, ["cat"], stderr=-3), ValueError, "stderr"),
    "Coprocess stderr str": Row(
        lambda o: partial(unixipc.Coprocess, ["cat"], stderr="2"), TypeError, "stderr"),
    # semaphore sets
    "SemaphoreSet.values 2-D memoryview": Row(
        lambda o: partial(setattr, o.semaphores(), "values", _two_d()), TypeError, "values"),
    # message queues
    "MessageQueue.send_many 2-D memoryview": Row(
        lambda o: partial(o.queue().send_many, _two_d()), TypeError, "sequence of messages"),
    "MessageQueue.send_many one memoryview": Row(
        lambda o: partial(o.queue().send_many, memoryview(b"ab")), TypeError,
        "sequence of messages"),
    # socket channels
    "MessageChannel.send fds 2-D memoryview": Row(
        lambda o: partial(o.channel().send, b"x", fds=_two_d_ints()), TypeError, "fds"),
    "MessageChannel.send fds 2-D memoryview (seqpacket)": Row(
        lambda o: partial(o.channel(socket.SOCK_SEQPACKET).send, b"x", fds=_two_d_ints()),
        TypeError, "fds"),
    "MessageChannel.send fds item float": Row(
        lambda o: partial(o.channel().send, b"x", fds=[1.0]), TypeError, "fds"),
    "MessageChannel.send fds item above 32 bits": Row(
        lambda o: partial(o.channel().send, b"x", fds=[2**40]), ValueError, "fds"),
    "MessageChannel.send fds item negative": Row(
        lambda o: partial(o.channel().send, b"x", fds=[-1]), ValueError, "fds"),
    "MessageChannel.max_size str": Row(
        lambda o: partial(setattr, o.channel(), "max_size", "8"), TypeError, "max_size"),
    "MessageChannel.max_size float": Row(
        lambda o: partial(setattr, o.channel(), "max_size", 8.0), TypeError, "max_size"),
    "MessageChannel.max_size negative": Row(
        lambda o: partial(setattr, o.channel(), "max_size", -1), ValueError, "max_size"),
    "MessageChannel max_size= str": Row(
        lambda o: partial(sockets.MessageChannel, o.socket(), max_size="8"), TypeError,
        "max_size"),
    "MessageChannel.send_many 2-D memoryview": Row(
        lambda o: partial(o.channel().send_many, _two_d()), TypeError, "sequence of messages"),
    # shared-memory channels
    "ShmChannel capacity above 64 bits": Row(
        lambda o: partial(unixipc.ShmChannel, capacity=2**64), ValueError, "capacity"),
    "ShmChannel max_processes above 32 bits": Row(
        lambda o: partial(unixipc.ShmChannel, capacity=4096, max_processes=2**32 + 1),
        ValueError, "max_processes"),
    "ShmChannel.send_many 2-D memoryview": Row(
        lambda o: partial(o.shm_channel().send_many, _two_d()), TypeError,
        "sequence of messages"),
    "ShmChannel.send_many one bytes": Row(
        lambda o: partial(o.shm_channel().send_many, b"ab"), TypeError, "sequence of messages"),
    # network databases
    "name_info port above 64 bits": Row(
        lambda o: partial(netdb.name_info, ("127.0.0.1", 2**64)), ValueError, "port"),
    "name_info flowinfo above 32 bits": Row(
        lambda o: partial(netdb.name_info, ("::1", 80, 2**32, 0)), ValueError, "flowinfo"),
    "name_info scope_id above 32 bits": Row(
        lambda o: partial(netdb.name_info, ("::1", 80, 0, 2**32)), ValueError, "scope_id"),
    "name_info flags above 64 bits": Row(
        lambda o: partial(netdb.name_info, ("127.0.0.1", 80), 2**64), ValueError, "flags"),
    "address_info family above 64 bits": Row(
        lambda o: partial(netdb.address_info, "localhost", 80, family=2**64), ValueError,
        "family"),
    "address_info type above a C int": Row(
        lambda o: partial(netdb.address_info, "localhost", 80, type=2**40), ValueError, "type"),
    "address_info protocol above a C int": Row(
        lambda o: partial(netdb.address_info, "localhost", 80, protocol=2**40), ValueError,
        "protocol"),
    "address_info flags above 64 bits": Row(
        lambda o: partial(netdb.address_info, "localhost", 80, flags=2**64), ValueError,
        "flags"),
    "network_by_address type above a C int": Row(
        lambda o: partial(netdb.network_by_address, 0, type=2**40), ValueError, "type"),
    # POSIX message queues
    "posix.MessageQueue name without a slash": Row(
        lambda o: partial(posix.MessageQueue, o.posix_name()[1:], create=True), ValueError,
        "name"),
    "posix.MessageQueue max_messages above 64 bits": Row(
        lambda o: partial(posix.MessageQueue, o.posix_name(), create=True,
                          max_messages=2**64), ValueError, "max_messages"),
    "posix.MessageQueue max_message_size 0": Row(
        lambda o: partial(posix.MessageQueue, o.posix_name(), create=True,
                          max_message_size=0), ValueError, "max_message_size"),
    "posix.MessageQueue mode bool": Row(
        lambda o: partial(posix.MessageQueue, o.posix_name(), create=True, mode=True),
        TypeError, "mode"),
    "posix.MessageQueue.send priority above 64 bits": Row(
        lambda o: partial(o.posix_queue().send, b"x", 2**64), ValueError, "priority"),
    "posix.MessageQueue.send priority negative": Row(
        lambda o: partial(o.posix_queue().send, b"x", -1), ValueError, "priority"),
    "posix.MessageQueue.send data longer than max_message_size": Row(
        lambda o: partial(o.posix_queue().send, b"123456789"), ValueError,
        "max_message_size"),
    "posix.MessageQueue.send data str": Row(
        lambda o: partial(o.posix_queue().send, "text"), TypeError, "bytes-like"),
    "posix.MessageQueue.send timeout negative": Row(
        lambda o: partial(o.posix_queue().send, b"x", timeout=-1), ValueError, "timeout"),
    "posix.MessageQueue.receive timeout str": Row(
        lambda o: partial(o.posix_queue().receive, timeout="1"), TypeError, "timeout"),
    "posix.MessageQueue.notify signal above SIGRTMAX": Row(
        lambda o: partial(o.posix_queue().notify, signal=2**40), ValueError, "signal"),
    # POSIX shared memory
    "posix.Semaphore.in_buffer read-only buffer": Row(
        lambda o: partial(posix.Semaphore.in_buffer, bytes(64)), ValueError, "read-only"),
    "posix.Semaphore.in_buffer not a buffer": Row(
        lambda o: partial(posix.Semaphore.in_buffer, "text"), TypeError, "bytes-like"),
    "posix.Semaphore.in_buffer offset negative": Row(
        lambda o: partial(posix.Semaphore.in_buffer, o.shared_mmap(), -8), ValueError,
        "offset"),
    "posix.Semaphore.in_buffer offset above 64 bits": Row(
        lambda o: partial(posix.Semaphore.in_buffer, o.shared_mmap(), 2**64), ValueError,
        "offset"),
    "posix.Semaphore.in_buffer offset misaligned": Row(
        lambda o: partial(posix.Semaphore.in_buffer, o.shared_mmap(), 1), ValueError,
        "aligned"),
    "posix.Semaphore.in_buffer no room for a sem_t": Row(
        lambda o: partial(posix.Semaphore.in_buffer, o.shared_mmap(), 4096), ValueError,
        "no room"),
    "posix.Semaphore.in_buffer initial above SEM_VALUE_MAX": Row(
        lambda o: partial(posix.Semaphore.in_buffer, o.shared_mmap(),
                          initial=posix.SEM_VALUE_MAX + 1), ValueError, "SEM_VALUE_MAX"),
    "posix.Semaphore.in_buffer offset float": Row(
        lambda o: partial(posix.Semaphore.in_buffer, o.shared_mmap(), 8.0), TypeError,
        "offset"),
    "posix.Semaphore.at not contiguous": Row(
        lambda o: partial(posix.Semaphore.at, memoryview(bytearray(64))[::2]), ValueError,
        "contiguous"),
    "posix.Semaphore.at offset misaligned": Row(
        lambda o: partial(posix.Semaphore.at, o.shared_mmap(), 4), ValueError, "aligned"),
    "posix.SharedMemory name without a slash": Row(
        lambda o: partial(posix.SharedMemory, o.posix_shm_name()[1:], 16, create=True),
        ValueError, "must start with '/'"),
    "posix.SharedMemory name with a second slash": Row(
        lambda o: partial(posix.SharedMemory, o.posix_shm_name() + "/x", 16, create=True),
        ValueError, "only its leading '/'"),
    "posix.SharedMemory name bytes": Row(
        lambda o: partial(posix.SharedMemory, o.posix_shm_name().encode(), 16, create=True),
        TypeError, "str"),
    "posix.SharedMemory size negative": Row(
        lambda o: partial(posix.SharedMemory, o.posix_shm_name(), -1, create=True),
        ValueError, "size"),
    "posix.SharedMemory size above 64 bits": Row(
        lambda o: partial(posix.SharedMemory, o.posix_shm_name(), 2**64, create=True),
        ValueError, "size"),
    "posix.SharedMemory size float": Row(
        lambda o: partial(posix.SharedMemory, o.posix_shm_name(), 16.0, create=True),
        TypeError, "size"),
    "posix.SharedMemory mode above 0o777": Row(
        lambda o: partial(posix.SharedMemory, o.posix_shm_name(), 16, create=True,
                          mode=0o1000), ValueError, "mode"),
    "posix.SharedMemory.anonymous size negative": Row(
        lambda o: partial(posix.SharedMemory.anonymous, -1), ValueError, "size"),
    "posix.SharedMemory.anonymous name with NUL": Row(
        lambda o: partial(posix.SharedMemory.anonymous, 16, name="a\0b"), ValueError, "NUL"),
    "posix.SharedMemory.anonymous name too long": Row(
        lambda o: partial(posix.SharedMemory.anonymous, 16, name="x" * 250), ValueError,
        "249"),
    "posix.SharedMemory.write past the end": Row(
        lambda o: partial(o.posix_segment().write, b"xyz", 14), ValueError, "overrun"),
    "posix.SharedMemory.write offset negative": Row(
        lambda o: partial(o.posix_segment().write, b"x", -1), ValueError, "offset"),
    "posix.SharedMemory.write data str": Row(
        lambda o: partial(o.posix_segment().write, "text"), TypeError, "bytes-like"),
    "posix.SharedMemory.read past the end": Row(
        lambda o: partial(o.posix_segment().read, 17), ValueError, "overrun"),
    "posix.SharedMemory.read offset past the end": Row(
        lambda o: partial(o.posix_segment().read, None, 17), ValueError, "past the end"),
    "posix.SharedMemory.read size bool": Row(
        lambda o: partial(o.posix_segment().read, True), TypeError, "size"),
    "posix.SharedMemory.resize negative": Row(
        lambda o: partial(o.posix_segment().resize, -1), ValueError, "size"),
    "posix.SharedMemory.resize above 64 bits (anonymous)": Row(
        lambda o: partial(o.posix_segment(anonymous=True).resize, 2**63), ValueError, "size"),
}


def _descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _children() -> set[str]:
    found: set[str] = set()
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children") as f:
            found.update(f.read().split())
    return found


@pytest.fixture
def objects(tmp_path: Path) -> Iterator[Objects]:
    o = Objects(tmp_path)
    try:
        yield o
    finally:
        o.close()


@pytest.mark.parametrize("name", list(ROWS))
def test_bad_argument_is_refused_before_any_call(name: str, objects: Objects) -> None:
    row = ROWS[name]
    assert row.error in (TypeError, ValueError)
    call = row.make(objects)
    fds, children = _descriptors(), _children()
    with pytest.raises(Exception) as info:
        call()
    assert type(info.value) is row.error, repr(info.value)
    assert row.match in str(info.value), repr(info.value)
    assert _descriptors() == fds
    assert _children() == children
    objects.check()


class _Index:
    """An integer that is not an int (as numpy's are): the C converters take
    it through __index__, as the standard library does."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


def test_integer_arguments_take_index_objects(objects: Objects) -> None:
    q = objects.queue()
    q.send(b"x", type=_Index(3))  # type: ignore[arg-type]
    assert q.receive(type=_Index(3), max_size=_Index(8)) == (3, b"x")  # type: ignore[arg-type]
    s = objects.semaphores()
    s.op((_Index(0), _Index(1)), (_Index(1), _Index(-1)))  # type: ignore[arg-type]
    assert s.values == [4, 3]
    s.values = [3, 4]
    p = objects.pipe(b"data")
    assert p.reader.read(_Index(4)) == b"data"  # type: ignore[arg-type]
    p.writer.write(b"data")
    a, b = socket.socketpair(socket.AF_UNIX)
    with sockets.MessageChannel(a) as ours, sockets.MessageChannel(b) as peer:
        ours.send(b"x", fds=[_Index(p.reader.fileno())])  # type: ignore[list-item]
        data, fds = peer.receive(timeout=5)
        assert data == b"x" and len(fds) == 1
        os.close(fds[0])
    objects.check()
