"""Who owns MessageChannel's framing: the C base (unixipc._core.ChannelBase)
holds the whole state machine (the pending rest of a frame, the receive
buffer, the received descriptors, the error that broke the stream) and
never calls back into its Python subclass, so nothing a subclass defines
or assigns changes the framing. Its state is read through one explicit
output, ``_state()``. Real sockets, every wait bounded."""

from __future__ import annotations

import gc
import os
import socket
import struct
import warnings
from collections.abc import Iterator

import pytest

from unixipc import _core, sockets
from unixipc.errors import MessageTooLongError
from unixipc.sockets import (ChannelClosedError, FrameTooLargeError, IncompleteMessageError,
                             MessageChannel)

pytestmark = pytest.mark.timeout(30)

# The Python methods and fields the C base used to call and share by name.
_OLD_CALLBACKS = ("_send_slow", "_receive_slow", "_took", "_make_room", "_take_fds",
                  "_record", "_fill", "_write", "_flush", "_receive_record")
_OLD_FIELDS = ("_buf", "_start", "_end", "_pos", "_limit", "_fdq", "_pending", "_broken")


def _refuse(name: str):  # type: ignore[no-untyped-def]
    def method(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError(f"the C base called {name} on its subclass")
    return method


class Meddling(MessageChannel):
    """A subclass that defines every former callback (each fails the test
    if called) and assigns garbage to every former shared field."""

    def __init__(self, sock: socket.socket, **kwargs: object) -> None:
        super().__init__(sock, **kwargs)  # type: ignore[arg-type]
        self._buf = bytearray(3)
        self._start = 2
        self._end = 1
        self._pos = -5
        self._limit = 0
        self._fdq = [(0, [12345])]
        self._pending = [memoryview(b"JUNK")]
        self._broken = ValueError("not broken")


for _name in _OLD_CALLBACKS:
    setattr(Meddling, _name, _refuse(_name))


@pytest.fixture
def pipe_fds() -> Iterator[tuple[int, int]]:
    """Two descriptors to pass around (a pipe), closed afterwards."""
    r, w = os.pipe()
    yield r, w
    os.close(r)
    os.close(w)


def test_a_subclass_cannot_change_the_stream_framing(pipe_fds):
    a_raw, b_raw = socket.socketpair()
    r, _ = pipe_fds
    with Meddling(a_raw) as a, Meddling(b_raw) as b:
        # plain, with descriptors, timed, non-blocking, batched
        a.send(b"one")
        a.send(b"two", [r])
        a.send(memoryview(b"three"), timeout=5)
        a.send(bytearray(b"four"), block=False)
        assert a.send_many([b"five", b"six"], timeout=5) == 2
        got = [b.receive(timeout=5) for _ in range(6)]
        assert [m.data for m in got] == [b"one", b"two", b"three", b"four", b"five", b"six"]
        assert [len(m.fds) for m in got] == [0, 1, 0, 0, 0, 0]
        os.close(got[1].fds[0])
        with pytest.raises(BlockingIOError):
            b.receive(block=False)
        # a frame held back by the timeout and completed by flush
        big = os.urandom(4 << 20)
        with pytest.raises(TimeoutError):
            a.send(big, timeout=0.05)
        assert 0 < a.pending < len(big) + 8
        assert a._state()["pending"] == a.pending
        received = []
        while a.pending:
            try:
                a.flush(block=False)
            except BlockingIOError:
                pass
            try:
                received.append(b.receive(block=False).data)
            except BlockingIOError:
                pass
        if not received:
            received.append(b.receive(timeout=5).data)
        assert received == [big]
        # end of file inside a frame
        a.socket.sendall(struct.pack("<Q", 10) + b"abc")
        a.socket.shutdown(socket.SHUT_WR)
        with pytest.raises(IncompleteMessageError):
            b.receive(timeout=5)


def test_a_subclass_cannot_change_the_seqpacket_framing(pipe_fds):
    a_raw, b_raw = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    r, w = pipe_fds
    with Meddling(a_raw, max_size=100) as a, Meddling(b_raw, max_size=100) as b:
        a.send(b"rec", [r, w])
        msg = b.receive(timeout=5)
        assert msg.data == b"rec" and len(msg.fds) == 2
        for fd in msg.fds:
            os.close(fd)
        a.max_size = 1000
        a.send(b"x" * 500, [r])
        with pytest.raises(MessageTooLongError):
            b.receive(timeout=5)  # its descriptor is closed with it
        a.send(b"")
        assert b.receive(timeout=5).data == b""
        a.close()
        with pytest.raises(ChannelClosedError):
            b.receive(timeout=5)


def test_frame_too_large_breaks_the_stream_for_good():
    raw, other = socket.socketpair()
    ch = Meddling(other, max_size=16)
    try:
        raw.sendall(struct.pack("<Q", 17) + b"x" * 17 + struct.pack("<Q", 1) + b"y")
        with pytest.raises(FrameTooLargeError) as first:
            ch.receive(timeout=5)
        assert ch._state()["broken"] is first.value
        with pytest.raises(FrameTooLargeError):
            ch.receive(timeout=5)
    finally:
        ch.close()
        raw.close()


def test_the_state_is_an_explicit_output(pipe_fds):
    """_state() reports what the C base holds: a partial frame's bytes, the
    descriptors that came with it, the buffer; completing the frame hands
    both over and empties them."""
    raw, other = socket.socketpair()
    r, _ = pipe_fds
    with MessageChannel(other) as ch, raw:
        assert ch._state() == {"buffer_size": 0, "buffered": 0, "queued_fds": 0,
                               "pending": 0, "broken": None}
        raw.sendmsg([struct.pack("<Q", 6) + b"abc"],
                    [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", r))])
        with pytest.raises(TimeoutError):
            ch.receive(timeout=0.05)
        state = ch._state()
        assert (state["buffered"], state["queued_fds"]) == (11, 1)
        assert state["buffer_size"] >= 11
        raw.sendall(b"def")
        msg = ch.receive(timeout=5)
        assert msg.data == b"abcdef" and len(msg.fds) == 1
        os.close(msg.fds[0])
        state = ch._state()
        assert (state["buffered"], state["queued_fds"]) == (0, 0)


def test_set_up_once_and_read_only_fields():
    a, b = MessageChannel.pair()
    try:
        with pytest.raises(RuntimeError):
            a._setup(b.socket, False, True, 10)
        for name in ("socket", "seqpacket", "unix"):
            with pytest.raises(AttributeError):
                setattr(a, name, None)
        with pytest.raises(ValueError):
            a.max_size = -1
        with pytest.raises(TypeError):
            a.max_size = "10"  # type: ignore[assignment]
        assert a.max_size == sockets.DEFAULT_MAX_SIZE
    finally:
        a.close()
        b.close()
    bare = _core.ChannelBase()
    with pytest.raises(RuntimeError):
        bare.send(b"x")
    with pytest.raises(RuntimeError):
        bare.receive()


@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_descriptors_given_as_an_iterator_are_passed(kind, pipe_fds):
    """fds= read once: an iterator used to be read twice (check, then send),
    and the descriptors silently stayed behind."""
    a, b = MessageChannel.pair(kind)
    with a, b:
        a.send(b"x", (fd for fd in pipe_fds))
        msg = b.receive(timeout=5)
        assert msg.data == b"x" and len(msg.fds) == 2
        for fd in msg.fds:
            os.close(fd)


def test_unclaimed_descriptors_are_closed_when_the_channel_is_collected(pipe_fds):
    raw, other = socket.socketpair()
    ch = MessageChannel(other)
    r, _ = pipe_fds
    with raw, other:
        raw.sendmsg([struct.pack("<Q", 100) + b"abc"],
                    [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", r))])
        before = set(os.listdir("/proc/self/fd"))
        with pytest.raises(TimeoutError):
            ch.receive(timeout=0.05)
        queued = set(os.listdir("/proc/self/fd")) - before
        assert len(queued) == 1  # the descriptor waits in the channel for its frame
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            del ch
            gc.collect()
        assert not queued & set(os.listdir("/proc/self/fd"))
