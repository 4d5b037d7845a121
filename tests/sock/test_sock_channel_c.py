"""MessageChannel's framing in C (unixipc._core.ChannelBase): every way of
sending and receiving gives the same results, signals are handled while
blocked in C, timeouts, non-blocking descriptors, and the C base owns its
state (nothing a subclass defines changes what it does). Real sockets,
every wait bounded."""

from __future__ import annotations

import os
import random
import signal
import socket
import struct
import threading
import time

import pytest

from unixipc import _core, sockets
from unixipc.sockets import (ChannelClosedError, ChannelMessage, FrameTooLargeError,
                             IncompleteMessageError, MessageChannel)

MiB = 1 << 20


def tcp_pair() -> tuple[MessageChannel, MessageChannel]:
    with sockets.listen("tcp:127.0.0.1:0") as lst:
        a = sockets.connect(lst.address, timeout=5)
        b = lst.accept(timeout=5)
    return a, b


def make_pair(transport: str) -> tuple[MessageChannel, MessageChannel]:
    if transport == "tcp":
        return tcp_pair()
    return MessageChannel.pair("seqpacket" if transport == "seqpacket" else "stream")


def test_the_c_base():
    assert issubclass(MessageChannel, _core.ChannelBase)
    assert MessageChannel.send is _core.ChannelBase.send
    assert MessageChannel.receive is _core.ChannelBase.receive
    a, b = MessageChannel.pair()
    with a, b:
        a.send(b"x")
        msg = b.receive()
        assert type(msg) is ChannelMessage and msg == (b"x", ())
        assert msg.data == b"x" and msg.fds == ()


def payloads(seed: int, count: int = 300) -> list[bytes]:
    rng = random.Random(seed)
    out = [b"", b"\0" * 8, os.urandom(300 * 1024)]
    while len(out) < count:
        top = 100 if rng.random() < 0.8 else 20000
        out.append(rng.randbytes(rng.randint(0, top)))
    rng.shuffle(out)
    return out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["unix", "seqpacket", "tcp"])
def test_c_and_python_paths_agree(transport):
    """Every mix of sender (blocking, timed, non-blocking after a wait,
    batched) and receiver (blocking, timed) delivers the same messages in
    the same order; bytes, bytearray and memoryview alike."""
    a, b = make_pair(transport)
    data = payloads(1)

    def send_nonblocking(d: bytes | bytearray) -> None:
        while True:
            try:
                return a.send(d, block=False)
            except BlockingIOError as exc:
                if getattr(exc, "characters_written", 0):
                    return a.flush(timeout=20)  # the frame is committed
                time.sleep(0.001)

    senders = [a.send, lambda d: a.send(memoryview(d), timeout=20), send_nonblocking,
               lambda d: a.send_many([d], timeout=20)]
    receivers = [lambda timeout: b.receive(), b.receive]
    got: list[bytes] = []

    def reader() -> None:
        for i in range(len(data)):
            got.append(receivers[(i // 3) % 2](timeout=20).data)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i, d in enumerate(data):
            senders[i % len(senders)](d if i % 5 else bytearray(d))
    finally:
        t.join(timeout=30)
    assert got == data
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(ChannelClosedError):
        b.receive(timeout=5)
    a.close()
    b.close()


@pytest.mark.timeout(60)
def test_c_and_python_receivers_agree_on_any_chunking():
    """A raw writer cuts frames (with descriptors riding along) at random
    places; a channel receiving without a deadline and one receiving with
    timeouts see the same messages, descriptors on the same messages."""
    rng = random.Random(7)
    frames = [rng.randbytes(rng.choice([0, 1, 7, 8, 9, 100, 5000, 70000, 300000]))
              for _ in range(150)]
    stream = b"".join(struct.pack("<Q", len(f)) + f for f in frames)
    cuts = sorted(rng.sample(range(1, len(stream)), 400))
    chunks = [stream[i:j] for i, j in zip([0] + cuts, cuts + [len(stream)])]
    fd_chunks = set(rng.sample(range(len(chunks)), 20))
    results = []
    for timed in (False, True):
        raw, other = socket.socketpair()
        ch = MessageChannel(other, max_size=MiB)
        r, w = os.pipe()

        def writer() -> None:
            for k, chunk in enumerate(chunks):
                if k in fd_chunks:
                    raw.sendmsg([chunk], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                           struct.pack("i", w))])
                else:
                    raw.sendall(chunk)
            raw.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=writer)
        t.start()
        out = []
        try:
            while True:
                try:
                    msg = ch.receive(timeout=20) if timed else ch.receive()
                except ChannelClosedError:
                    break
                out.append((msg.data, len(msg.fds)))
                for fd in msg.fds:
                    os.close(fd)
        finally:
            t.join(timeout=30)
        results.append(out)
        ch.close()
        raw.close()
        os.close(r)
        os.close(w)
    assert [d for d, _ in results[0]] == frames
    assert results[0] == results[1]
    assert sum(n for _, n in results[0]) == len(fd_chunks)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_signals_during_blocking_c_receive_are_retried(kind):
    """An infinite receive blocked in C: the handler runs on every signal,
    the wait goes on, the message arrives whole."""
    a, b = MessageChannel.pair(kind)
    fired: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
    t = threading.Timer(0.4, a.send, args=(b"late" * 100,))
    t.start()
    try:
        msg = b.receive()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        t.join(timeout=10)
    assert msg.data == b"late" * 100
    assert len(fired) >= 3
    a.close()
    b.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_handler_exception_ends_a_blocking_c_receive(kind):
    a, b = MessageChannel.pair(kind)

    def boom(*_: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    try:
        with pytest.raises(KeyboardInterrupt):
            b.receive()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    # nothing lost: the channel still works
    a.send(b"after")
    assert b.receive(timeout=5).data == b"after"
    a.close()
    b.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("transport", ["unix", "seqpacket", "tcp"])
def test_timed_and_nonblocking_receive_in_c(transport):
    a, b = make_pair(transport)
    with pytest.raises(BlockingIOError):
        b.receive(block=False)
    with pytest.raises(TimeoutError):
        b.receive(timeout=0)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        b.receive(timeout=0.3)
    assert 0.25 < time.monotonic() - t0 < 5
    with pytest.raises(ValueError):
        b.receive(timeout=-1)
    # a message arriving inside the timeout
    t = threading.Timer(0.2, a.send, args=(b"in time",))
    t.start()
    try:
        assert b.receive(timeout=10).data == b"in time"
    finally:
        t.join(timeout=10)
    # already there: block=False and timeout=0 both take it
    a.send(b"one")
    a.send(b"two")
    assert support_wait(lambda: b.receive(block=False)).data == b"one"
    assert support_wait(lambda: b.receive(timeout=0)).data == b"two"
    a.close()
    b.close()


def support_wait(fn, limit: float = 5.0):
    """Call fn until it stops raising BlockingIOError/TimeoutError (TCP
    delivery is not instantaneous)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            return fn()
        except (BlockingIOError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@pytest.mark.timeout(30)
def test_partial_frame_kept_across_c_timeouts():
    raw, other = socket.socketpair()
    ch = MessageChannel(other)
    frame = struct.pack("<Q", 10) + b"0123456789"
    raw.sendall(frame[:5])
    with pytest.raises(TimeoutError):
        ch.receive(timeout=0.05)
    raw.sendall(frame[5:12])
    with pytest.raises(BlockingIOError):
        ch.receive(block=False)
    raw.sendall(frame[12:])
    assert ch.receive(timeout=5).data == b"0123456789"
    ch.close()
    raw.close()


@pytest.mark.timeout(30)
def test_c_paths_on_a_nonblocking_descriptor():
    """A timeout set on the socket object makes its descriptor O_NONBLOCK;
    the C calls still wait properly on such a descriptor."""
    a, b = MessageChannel.pair()
    a.socket.settimeout(5)
    b.socket.settimeout(5)
    with pytest.raises(TimeoutError):
        b.receive(timeout=0.01)
    a.send(b"x", timeout=1)
    assert b.receive().data == b"x"
    t = threading.Timer(0.2, a.send, args=(b"later",))
    t.start()
    try:
        assert b.receive().data == b"later"
    finally:
        t.join(timeout=10)
    # a send that has to wait for the reader
    big = os.urandom(4 * MiB)
    got: list[bytes] = []
    t = threading.Thread(target=lambda: (time.sleep(0.2), got.append(b.receive().data)))
    t.start()
    try:
        a.send(big)
    finally:
        t.join(timeout=20)
    assert got == [big]
    a.close()
    b.close()


@pytest.mark.timeout(60)
def test_handler_exception_during_c_send_keeps_the_rest_pending():
    a, b = MessageChannel.pair()
    big = os.urandom(8 * MiB)

    def boom(*_: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        with pytest.raises(KeyboardInterrupt):
            a.send(big)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert 0 < a.pending < len(big) + 8
    got: list[bytes] = []
    t = threading.Thread(target=lambda: got.extend(b.receive(timeout=20).data for _ in range(2)))
    t.start()
    try:
        a.send(b"next")  # completes the pending frame first
        assert a.pending == 0
    finally:
        t.join(timeout=30)
    assert got == [big, b"next"]
    a.close()
    b.close()


def test_closed_socket_raises_as_before():
    a, b = MessageChannel.pair()
    b.socket.close()
    with pytest.raises(OSError):
        b.receive()
    with pytest.raises(OSError):
        b.send(b"x")
    a.close()
    b.close()


def test_max_size_follows_assignment():
    a, b = MessageChannel.pair()
    with a, b:
        a.max_size = 4
        with pytest.raises(ValueError):
            a.send(b"12345")
        a.send(b"1234")
        b.max_size = 3
        with pytest.raises(FrameTooLargeError):
            b.receive(timeout=5)
        with pytest.raises(FrameTooLargeError):  # the stream stays broken
            b.receive(timeout=5)
        with pytest.raises(ValueError):
            a.max_size = -1
        a.max_size = 1 << 80  # bigger than any Py_ssize_t: fine
        assert a.max_size == 1 << 80


@pytest.mark.timeout(30)
def test_incomplete_frame_through_c():
    raw, other = socket.socketpair()
    ch = MessageChannel(other)
    raw.sendall(struct.pack("<Q", 100) + b"abc")
    raw.close()
    with pytest.raises(IncompleteMessageError) as info:
        ch.receive()
    assert (info.value.received, info.value.expected) == (11, 100)
    with pytest.raises(IncompleteMessageError):
        ch.receive(timeout=1)
    ch.close()


@pytest.mark.parametrize("direction", ["receive", "send"])
def test_handler_closing_the_socket_ends_the_call_with_ebadf(direction):
    """A signal handler that closes the channel's socket and opens another
    file (which may get the same descriptor number) must not make the
    blocked C call read from or write to that other file."""
    import errno
    import signal
    import socket
    import struct

    a, b = MessageChannel.pair("stream")
    others = []

    def handler(signum, frame):
        a.socket.close()
        x, y = socket.socketpair()
        others.append((x, y))
        y.sendall(struct.pack("<Q", 5) + b"STOLE")

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(OSError) as info:
            if direction == "receive":
                a.receive()  # blocking, no timeout: the C path
            else:
                a.send(b"q" * (8 << 20))  # fills the buffer, then blocks
        assert info.value.errno == errno.EBADF
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        a.close()
        b.close()
        for x, y in others:
            x.close()
            y.close()
