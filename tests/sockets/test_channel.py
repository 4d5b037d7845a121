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


@pytest.mark.timeout(120)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ten_thousand_random_messages_intact_in_order(transport, tmp_path):
    a, b = channel_pair(transport, tmp_path)
    block = random.Random(1).randbytes(2 * MiB)
    lens = sizes(10_000, 7)
    offsets = [(i * 7919) % MiB for i in range(len(lens))]

    def sender() -> None:
        half = len(lens) // 2
        for i in range(half):
            a.send(block[offsets[i]:offsets[i] + lens[i]], timeout=60)
        # the second half in batches (sendmsg with many iovecs)
        for j in range(half, len(lens), 100):
            a.send_many([block[offsets[i]:offsets[i] + lens[i]]
                         for i in range(j, min(j + 100, len(lens)))], timeout=60)

    t = threading.Thread(target=sender)
    t.start()
    try:
        for i, n in enumerate(lens):
            msg = b.receive(timeout=60)
            assert len(msg.data) == n, i
            assert msg.data == block[offsets[i]:offsets[i] + n], i
            assert msg.fds == ()
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
    assert len(ch._buf) < 2 * MiB  # nothing near 2**40 was allocated
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


@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_eintr_is_retried_and_handlers_run(kind):
    a, b = MessageChannel.pair(kind)
    fired: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
    try:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            b.receive(timeout=0.5)
        assert 0.45 < time.monotonic() - t0 < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert fired
    a.close()
    b.close()


def test_signal_handler_exception_propagates():
    a, b = MessageChannel.pair("stream")

    def boom(*_: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    try:
        with pytest.raises(KeyboardInterrupt):
            b.receive(timeout=5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    a.close()
    b.close()
