"""MessageChannel over real sockets: Unix stream, Unix seqpacket, TCP on
127.0.0.1 / ::1 only. Every wait is bounded."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import struct
import threading
import time

import pytest

from support import Child
from unixipc import sockets
from unixipc.sockets import (ChannelClosedError, FrameTooLargeError, IncompleteMessageError,
                             MessageChannel)

MiB = 1 << 20


def channel_pair(transport: str, tmp_path) -> tuple[MessageChannel, MessageChannel]:
    if transport == "tcp":
        with sockets.listen("tcp:127.0.0.1:0") as lst:
            a = sockets.connect(lst.address, timeout=5)
            b = lst.accept(timeout=5)
        return a, b
    kind = "seqpacket" if transport == "seqpacket" else "stream"
    with sockets.listen(f"unix:{tmp_path}/s", kind=kind) as lst:
        a = sockets.connect(f"unix:{tmp_path}/s", kind=kind, timeout=5)
        b = lst.accept(timeout=5)
    return a, b


TRANSPORTS = ["unix", "seqpacket", "tcp"]


def sizes(count: int, seed: int) -> list[int]:
    """Random sizes 0..1 MiB, mostly small so that each transport test
    takes a few seconds on 2 cores: 95% up to 4 KiB, 4.5% up to 64 KiB,
    0.5% up to 1 MiB (both ends of the range always included)."""
    rng = random.Random(seed)
    out = [0, MiB]
    while len(out) < count:
        r = rng.random()
        top = 4096 if r < 0.95 else 65536 if r < 0.995 else MiB
        out.append(rng.randint(0, top))
    rng.shuffle(out)
    return out


def uniform_sizes(count: int, seed: int) -> list[int]:
    """Sizes drawn uniformly from 0..1 MiB (both ends always included)."""
    rng = random.Random(seed)
    out = [0, MiB] + [rng.randint(0, MiB) for _ in range(count - 2)]
    rng.shuffle(out)
    return out


_BLOCK = random.Random(1).randbytes(2 * MiB)


def _same(data: bytes, offset: int) -> bool:
    """data is _BLOCK's bytes from offset: a bytes comparison, a memcmp
    (comparing a memoryview slice with bytes goes item by item, 50 times
    slower, and was most of these tests' time)."""
    return _BLOCK[offset:offset + len(data)] == data
_OFFSETS = [(i * 7919) % MiB for i in range(10_000)]


def _send_all(address: str, kind: str, lens: list[int]) -> int:
    """In a child process: connect and send every message, the first half
    one by one, the second half in batches (one sendmsg, many iovecs)."""
    block = memoryview(_BLOCK)
    with sockets.connect(address, kind=kind, timeout=10) as ch:
        half = len(lens) // 2
        for i in range(half):
            ch.send(block[_OFFSETS[i]:_OFFSETS[i] + lens[i]], timeout=60)
        for j in range(half, len(lens), 100):
            ch.send_many([block[_OFFSETS[i]:_OFFSETS[i] + lens[i]]
                          for i in range(j, min(j + 100, len(lens)))], timeout=60)
        ch.receive(timeout=60)  # the receiver has everything
    return len(lens)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ten_thousand_random_messages_intact_in_order(transport, tmp_path):
    """10,000 messages of sizes uniform in 0..1 MiB (about 5 GiB) from
    another process arrive intact and in order."""
    lens = uniform_sizes(10_000, 7)
    kind = "seqpacket" if transport == "seqpacket" else "stream"
    address = "tcp:127.0.0.1:0" if transport == "tcp" else f"unix:{tmp_path}/many"
    block = memoryview(_BLOCK)
    with sockets.listen(address, kind=kind) as lst:
        child = Child(_send_all, lst.address, kind, lens)
        with lst.accept(timeout=10) as b:
            for i, n in enumerate(lens):
                # odd messages through the blocking hot path (no timeout:
                # the test's own timeout bounds it), even ones timed
                msg = b.receive() if i % 2 else b.receive(timeout=60)
                assert len(msg.data) == n, i
                assert _same(msg.data, _OFFSETS[i]), i
                assert msg.fds == ()
            b.send(b"done")
            assert child.result(timeout=60) == len(lens)
            with pytest.raises(ChannelClosedError):
                b.receive(timeout=10)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_mostly_small_messages_with_threads(transport, tmp_path):
    """The same in one process with a sender thread and mostly small sizes
    (many frames per read, the buffered-frame path)."""
    a, b = channel_pair(transport, tmp_path)
    lens = sizes(10_000, 11)
    block = memoryview(_BLOCK)

    def sender() -> None:
        for j in range(0, len(lens), 50):
            a.send_many([block[_OFFSETS[i]:_OFFSETS[i] + lens[i]]
                         for i in range(j, min(j + 50, len(lens)))], timeout=60)

    t = threading.Thread(target=sender)
    t.start()
    try:
        for i, n in enumerate(lens):
            msg = b.receive() if i % 2 else b.receive(timeout=60)
            assert _same(msg.data, _OFFSETS[i]), i
    finally:
        t.join(timeout=60)
        a.close()
    with pytest.raises(ChannelClosedError):
        b.receive(timeout=10)
    b.close()


def _send_pipe_end(address: str, kind: str) -> str:
    r, w = os.pipe()
    with sockets.connect(address, kind=kind, timeout=5) as ch:
        ch.send(b"here is a pipe", fds=[w])
        os.close(w)
        data = os.read(r, 100)
        ch.receive(timeout=5)  # wait for the parent to be done
    os.close(r)
    return data.decode()


@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_descriptor_passing_across_processes(kind, tmp_path):
    address = f"unix:{tmp_path}/fdpass"
    with sockets.listen(address, kind=kind) as lst:
        child = Child(_send_pipe_end, address, kind)
        with lst.accept(timeout=10) as ch:
            msg = ch.receive(timeout=10)
            assert msg.data == b"here is a pipe"
            assert len(msg.fds) == 1
            os.write(msg.fds[0], b"through the passed end")
            os.close(msg.fds[0])
            ch.send(b"done")
            assert child.result(timeout=10) == "through the passed end"


def _die_mid_message(address: str) -> None:
    s = socket.socket(socket.AF_UNIX if address.startswith("unix:") else socket.AF_INET)
    fam, addr = sockets.parse_address(address)
    s.connect(addr)
    s.sendall(struct.pack("<Q", 1000) + b"x" * 10)
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_peer_killed_mid_message(transport, tmp_path):
    address = f"unix:{tmp_path}/dead" if transport == "unix" else "tcp:127.0.0.1:0"
    with sockets.listen(address) as lst:
        child = Child(_die_mid_message, lst.address)
        with lst.accept(timeout=10) as ch:
            with pytest.raises((IncompleteMessageError, ConnectionResetError)) as info:
                ch.receive(timeout=10)
            if isinstance(info.value, IncompleteMessageError):
                assert info.value.received == 18 and info.value.expected == 1000
                assert "1000" in str(info.value)
            # the channel stays failed rather than resynchronising on garbage
            with pytest.raises((IncompleteMessageError, ConnectionResetError, EOFError)):
                ch.receive(timeout=1)
        with pytest.raises(BaseException):  # the child died by SIGKILL
            child.result(timeout=10)


def test_huge_frame_header_rejected_before_allocating():
    a, b = socket.socketpair()
    ch = MessageChannel(b, max_size=MiB)
    a.sendall(struct.pack("<Q", 1 << 40))
    with pytest.raises(FrameTooLargeError) as info:
        ch.receive(timeout=5)
    assert info.value.errno == 90  # EMSGSIZE
    assert str(1 << 40) in str(info.value)
    assert ch._state()["buffer_size"] < 2 * MiB  # nothing near 2**40 was allocated
    with pytest.raises(FrameTooLargeError):
        ch.receive(timeout=0)
    ch.close()
    a.close()


def test_default_max_size_also_rejects_2_pow_40():
    a, b = socket.socketpair()
    ch = MessageChannel(b)
    a.sendall(struct.pack("<Q", 1 << 40))
    with pytest.raises(FrameTooLargeError):
        ch.receive(timeout=5)
    ch.close()
    a.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_receive_timeout_and_nonblocking(transport, tmp_path):
    a, b = channel_pair(transport, tmp_path)
    with a, b:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            b.receive(timeout=0.3)
        assert 0.25 < time.monotonic() - t0 < 5
        with pytest.raises(TimeoutError):
            b.receive(timeout=0)
        with pytest.raises(BlockingIOError):
            b.receive(block=False)
        a.send(b"late")
        assert b.receive(timeout=5).data == b"late"
        with pytest.raises(ValueError):
            b.receive(timeout=-1)


def test_partial_frame_then_timeout_keeps_the_bytes():
    a, b = socket.socketpair()
    ch = MessageChannel(b)
    a.sendall(struct.pack("<Q", 5) + b"ab")
    with pytest.raises(TimeoutError):
        ch.receive(timeout=0.1)
    a.sendall(b"cde")
    assert ch.receive(timeout=5).data == b"abcde"
    ch.close()
    a.close()


def test_send_timeout_keeps_framing():
    a, b = MessageChannel.pair("stream")
    big = b"x" * (8 * MiB)
    with pytest.raises(TimeoutError):
        a.send(big, timeout=0.2)
    assert a.pending > 0
    got: list[bytes] = []
    t = threading.Thread(target=lambda: got.extend(
        [b.receive(timeout=20).data, b.receive(timeout=20).data]))
    t.start()
    a.send(b"next", timeout=20)
    t.join(timeout=30)
    assert got == [big, b"next"]
    a.close()
    b.close()


def _drain_two(b: MessageChannel, got: list[bytes]) -> threading.Thread:
    t = threading.Thread(target=lambda: got.extend(
        [b.receive(timeout=20).data, b.receive(timeout=20).data]))
    t.start()
    return t


def test_failed_flush_keeps_the_pending_rest():
    a, b = MessageChannel.pair("stream")
    big = b"y" * (8 * MiB)
    with pytest.raises(TimeoutError):
        a.send(big, timeout=0.2)
    left = a.pending
    assert left > 0
    with pytest.raises(BlockingIOError):  # the peer reads nothing yet
        a.flush(block=False)
    assert a.pending == left
    got: list[bytes] = []
    t = _drain_two(b, got)
    a.send(b"after", timeout=20)
    t.join(timeout=30)
    assert got == [big, b"after"]
    a.close()
    b.close()


def test_raising_signal_handler_mid_send_keeps_the_rest_pending():
    import signal

    class Stop(Exception):
        pass

    def handler(signum, frame):
        raise Stop

    a, b = MessageChannel.pair("stream")
    big = b"z" * (8 * MiB)
    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Stop):
            a.send(big, timeout=10)  # timed: the Python path
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert a.pending > 0
    got: list[bytes] = []
    t = _drain_two(b, got)
    a.send(b"after", timeout=20)
    t.join(timeout=30)
    assert got == [big, b"after"]
    a.close()
    b.close()


def test_seqpacket_oversize_rejected():
    a, b = MessageChannel.pair("seqpacket", max_size=1000)
    with pytest.raises(ValueError):
        a.send(b"x" * 1001)
    a.close()
    b.close()
    a, b = MessageChannel.pair("seqpacket", max_size=64 << 20)
    with pytest.raises(sockets.MessageTooLongError if hasattr(sockets, "MessageTooLongError")
                       else OSError):
        a.send(b"x" * (32 << 20), timeout=5)
    a.close()
    b.close()


def test_seqpacket_record_longer_than_receivers_max():
    a = MessageChannel.pair("seqpacket")
    raw, other = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ch = MessageChannel(other, max_size=10)
    raw.send(b"y" * 100)
    raw.send(b"ok")
    with pytest.raises(OSError) as info:
        ch.receive(timeout=5)
    assert info.value.errno == 90
    assert ch.receive(timeout=5).data == b"ok"
    for c in a:
        c.close()
    ch.close()
    raw.close()


def test_empty_seqpacket_message_is_not_eof():
    a, b = MessageChannel.pair("seqpacket")
    a.send(b"")
    a.close()
    assert b.receive(timeout=5).data == b""
    with pytest.raises(ChannelClosedError):
        b.receive(timeout=5)
    b.close()


def test_shutdown_and_peer_credentials(tmp_path):
    a, b = channel_pair("unix", tmp_path)
    cred = b.peer_credentials()
    assert (cred.pid, cred.uid, cred.gid) == (os.getpid(), os.getuid(), os.getgid())
    a.send(b"last")
    a.shutdown(socket.SHUT_WR)
    assert b.receive(timeout=5).data == b"last"
    with pytest.raises(ChannelClosedError):
        b.receive(timeout=5)
    b.send(b"still one way")
    assert a.receive(timeout=5).data == b"still one way"
    a.close()
    b.close()


def test_ipv6_loopback():
    try:
        lst = sockets.listen("tcp:[::1]:0")
    except OSError:
        pytest.skip("no IPv6 loopback")
    with lst:
        assert lst.address.startswith("tcp:[::1]:")
        with sockets.connect(lst.address, timeout=5) as a, lst.accept(timeout=5) as b:
            a.send(b"six")
            assert b.receive(timeout=5).data == b"six"


def test_abstract_address_and_accept_timeout():
    name = f"unix:@unixipc-test-{os.getpid()}"
    with sockets.listen(name, kind="seqpacket") as lst:
        with pytest.raises(TimeoutError):
            lst.accept(timeout=0.2)
        with sockets.connect(name, kind="seqpacket", timeout=5) as a, lst.accept(timeout=5) as b:
            a.send(b"abstract")
            assert b.receive(timeout=5).data == b"abstract"


def test_unix_socket_file_mode_and_cleanup(tmp_path):
    path = tmp_path / "m"
    with sockets.listen(f"unix:{path}"):
        assert path.stat().st_mode & 0o777 == 0o600
    assert not path.exists()


@pytest.mark.parametrize("bad", ["", "unix:", "tcp:host", "udp:x:1", "tcp:h:99999"])
def test_bad_addresses(bad):
    with pytest.raises(ValueError):
        sockets.parse_address(bad)


def test_tcp_refuses_descriptors(tmp_path):
    a, b = channel_pair("tcp", tmp_path)
    with a, b:
        with pytest.raises(ValueError):
            a.send(b"x", fds=[0])


def test_async_twins():
    async def main() -> list[bytes]:
        a, b = MessageChannel.pair("stream")
        task = asyncio.ensure_future(b.receive_async())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        big = b"z" * (4 * MiB)
        sender = asyncio.ensure_future(a.send_async(big))
        got = [(await b.receive_async()).data]
        await sender
        await a.send_async(b"small")
        got.append((await b.receive_async()).data)
        a.close()
        b.close()
        return got

    assert asyncio.run(asyncio.wait_for(main(), 30)) == [b"z" * (4 * MiB), b"small"]


def test_no_sigpipe_on_closed_peer():
    a, b = MessageChannel.pair("stream")
    b.close()
    old = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(3):
                a.send(b"x" * 1000)
    finally:
        signal.signal(signal.SIGPIPE, old)
        a.close()


def _send_later(sock: socket.socket, *chunks: bytes) -> threading.Thread:
    def run() -> None:
        for chunk in chunks:
            time.sleep(0.1)
            sock.sendall(chunk)
    t = threading.Thread(target=run)
    t.start()
    return t


@pytest.mark.timeout(30)
def test_blocking_hot_paths_stream():
    """receive() without a timeout takes inline paths: cover their edges."""
    raw, other = socket.socketpair()
    ch = MessageChannel(other, max_size=MiB)
    # a header cut in two reads, then the body in a third
    t = _send_later(raw, struct.pack("<Q", 4)[:3], struct.pack("<Q", 4)[3:], b"abcd")
    assert ch.receive() == (b"abcd", ())
    t.join(timeout=10)
    # a frame larger than the read buffer, two whole frames in one read
    big = bytes(range(256)) * 4096
    t = _send_later(raw, struct.pack("<Q", len(big)) + big + struct.pack("<Q", 1) + b"x"
                    + struct.pack("<Q", 0))
    assert ch.receive().data == big
    assert ch.receive().data == b"x"
    assert ch.receive().data == b""
    t.join(timeout=10)
    # descriptors through the inline read
    r, w = os.pipe()
    raw.sendmsg([struct.pack("<Q", 2) + b"fd"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                  struct.pack("i", w))])
    msg = ch.receive()
    assert msg.data == b"fd" and len(msg.fds) == 1
    os.write(msg.fds[0], b"!")
    assert os.read(r, 1) == b"!"
    for fd in (r, w, *msg.fds):
        os.close(fd)
    # end of stream at a boundary, then inside a frame
    raw.shutdown(socket.SHUT_WR)
    with pytest.raises(ChannelClosedError):
        ch.receive()
    ch.close()
    raw.close()
    raw, other = socket.socketpair()
    ch = MessageChannel(other, max_size=MiB)
    raw.sendall(struct.pack("<Q", 10) + b"12345")
    raw.close()
    with pytest.raises(IncompleteMessageError) as info:
        ch.receive()
    assert (info.value.received, info.value.expected) == (13, 10)
    ch.close()
    # a hostile header through the inline read
    raw, other = socket.socketpair()
    ch = MessageChannel(other, max_size=MiB)
    raw.sendall(struct.pack("<Q", 1 << 40) + b"junk")
    with pytest.raises(FrameTooLargeError):
        ch.receive()
    assert ch._state()["buffer_size"] < 2 * MiB
    ch.close()
    raw.close()


@pytest.mark.timeout(30)
def test_blocking_hot_paths_seqpacket():
    raw, other = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ch = MessageChannel(other, max_size=1000)
    raw.send(b"one")
    raw.send(b"")
    raw.send(b"z" * 1001)  # longer than max_size: dropped with an error
    r, w = os.pipe()
    raw.sendmsg([b"with fd"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", w))])
    raw.sendmsg([b""], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", r))])
    raw.send(b"last")
    raw.close()
    assert ch.receive() == (b"one", ())
    assert ch.receive() == (b"", ())
    with pytest.raises(OSError) as info:
        ch.receive()
    assert info.value.errno == 90
    m1 = ch.receive()
    m2 = ch.receive()
    assert m1.data == b"with fd" and len(m1.fds) == 1
    assert m2.data == b"" and len(m2.fds) == 1
    os.write(m1.fds[0], b"?")
    assert os.read(m2.fds[0], 1) == b"?"
    assert ch.receive() == (b"last", ())
    with pytest.raises(ChannelClosedError):
        ch.receive()
    for fd in (r, w, *m1.fds, *m2.fds):
        os.close(fd)
    ch.close()


@pytest.mark.timeout(30)
def test_blocking_hot_path_tcp(tmp_path):
    a, b = channel_pair("tcp", tmp_path)
    with a, b:
        t = threading.Thread(target=lambda: [a.send(bytes([i]) * i) for i in range(200)])
        t.start()
        assert [b.receive().data for _ in range(200)] == [bytes([i]) * i for i in range(200)]
        t.join(timeout=10)
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(ChannelClosedError):
            b.receive()


@pytest.mark.timeout(60)
def test_blocking_send_cut_short_by_signals_keeps_framing():
    # A signal during a blocking send of a big frame makes the kernel return
    # a partial count; the channel writes the rest before returning.
    a, b = MessageChannel.pair("stream")
    payloads = [bytes(range(256)) * (32 << 10), b"mid" * 3000, b"tail"]  # 8 MiB, 9 KB, 4 B
    got: list[bytes] = []

    def slow_reader() -> None:
        for _ in payloads:
            time.sleep(0.2)
            got.append(b.receive().data)

    fired: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
    t = threading.Thread(target=slow_reader)
    t.start()
    try:
        for p in payloads:
            a.send(p)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        t.join(timeout=30)
    assert fired
    assert got == payloads
    a.close()
    b.close()


def test_a_channel_message_has_a_name_of_its_own():
    # unixipc.Message is a System V message (type, data); a channel's
    # message (data, fds) is another thing and must not share its name.
    import unixipc
    a, b = sockets.MessageChannel.pair()
    with a, b:
        a.send(b"x")
        got = b.receive(timeout=5)
    assert type(got) is sockets.ChannelMessage and got == (b"x", ())
    assert sockets.ChannelMessage.__name__ != unixipc.Message.__name__
    assert not hasattr(sockets, "Message")
