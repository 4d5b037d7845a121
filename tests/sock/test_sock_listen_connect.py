"""listen/connect rules (backlog, waiting for room in a full Unix backlog,
signals), SO_PEERCRED across processes and users, shutdown, send_many in
one system call, a frame header cut by EOF. Loopback only, every wait
bounded."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support import Child
from unixipc import sockets
from unixipc.sockets import ChannelClosedError, IncompleteMessageError, MessageChannel


def _abstract(tag: str) -> str:
    return f"unix:@unixipc-test-{tag}-{os.getpid()}"


def _connect_until_full(address: str, limit: int) -> list[MessageChannel]:
    """Connect (without accepting) until a connect times out."""
    done: list[MessageChannel] = []
    for _ in range(limit):
        try:
            done.append(sockets.connect(address, timeout=0.2))
        except TimeoutError:
            break
    return done


@pytest.mark.parametrize("backlog, queued", [(0, 1), (2, 3), (-5, 1)])
def test_unix_backlog_rules(backlog, queued):
    # Linux queues backlog + 1 unaccepted connections; 0 is the minimum and
    # a negative backlog counts as 0 (the listen(2) rules in the notes).
    address = _abstract(f"bl{backlog}")
    with sockets.listen(address, backlog=backlog) as lst:
        waiting = _connect_until_full(address, 10)
        try:
            assert len(waiting) == queued
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                sockets.connect(address, timeout=0.3)
            assert 0.25 < time.monotonic() - t0 < 5
            with pytest.raises(TimeoutError):
                sockets.connect(address, timeout=0)
            # accepting one makes room again
            lst.accept(timeout=5).close()
            sockets.connect(address, timeout=5).close()
        finally:
            for ch in waiting:
                ch.close()


def _listen_backlog(address: str) -> int | None:
    """The backlog the kernel keeps for a listening socket, as ss shows it."""
    if address.startswith("tcp:"):
        port = address.rsplit(":", 1)[1]
        cmd = ["ss", "-ltnH", f"sport = :{port}"]
        column = 2
    else:
        cmd = ["ss", "-xlH", "src", "@" + address[len("unix:@"):]]
        column = 3
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.split()
    return int(out[column]) if len(out) > column else None


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) not installed")
@pytest.mark.parametrize("where", ["tcp:127.0.0.1:0", "unix"])
def test_backlog_capped_and_defaulted_by_the_kernel(where):
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    for backlog, expected in [(7, 7), (None, min(socket.SOMAXCONN, somaxconn)),
                              (10**12, somaxconn), (-1, 0)]:
        address = where if where != "unix" else _abstract(f"cap{expected}")
        with sockets.listen(address, backlog=backlog) as lst:
            seen = _listen_backlog(lst.address)
            if seen is None:
                pytest.skip("ss cannot list this socket here (no sock_diag)")
            assert seen == expected, backlog
    with pytest.raises(TypeError):
        sockets.listen(_abstract("bool"), backlog=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_connect_waits_for_backlog_room_through_signals(kind):
    address = _abstract(f"room-{kind}")
    with sockets.listen(address, kind=kind, backlog=0) as lst:
        first = sockets.connect(address, kind=kind, timeout=5)  # fills the backlog
        opened: list[MessageChannel] = [first]
        accepted: list[MessageChannel] = []

        def accept_later() -> None:
            time.sleep(0.5)
            accepted.append(lst.accept(timeout=5))
            accepted.append(lst.accept(timeout=5))

        fired: list[int] = []
        old = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
        signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
        t = threading.Thread(target=accept_later)
        t.start()
        try:
            try:
                t0 = time.monotonic()
                second = sockets.connect(address, kind=kind, timeout=10)
                opened.append(second)
                waited = time.monotonic() - t0
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old)
                t.join(timeout=10)
            assert fired and 0.4 < waited < 9
            # really connected: a message goes through to the second accepted end
            second.send(b"after the wait")
            assert accepted[1].receive(timeout=5).data == b"after the wait"
        finally:
            for ch in opened + accepted:
                ch.close()


def _report_credentials(address: str) -> tuple[int, int, int, tuple[int, int, int]]:
    with sockets.connect(address, timeout=5) as ch:
        ch.send(b"hello")
        ch.receive(timeout=10)
        c = ch.peer_credentials()
        return os.getpid(), os.getuid(), os.getgid(), (c.pid, c.uid, c.gid)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run the peer as another user")
def test_peer_credentials_across_processes_and_users():
    address = _abstract("cred")  # abstract: no file permissions in the way
    with sockets.listen(address) as lst:
        child = Child(_report_credentials, address, uid=65534)
        with lst.accept(timeout=10) as ch:
            assert ch.receive(timeout=10).data == b"hello"
            cred = ch.peer_credentials()
            ch.send(b"bye")
            pid, uid, gid, seen = child.result(timeout=10)
    assert (cred.pid, cred.uid, cred.gid) == (pid, uid, gid) == (child.pid, 65534, 65534)
    assert seen == (os.getpid(), os.getuid(), os.getgid())


def test_peer_credentials_refused_on_tcp():
    with sockets.listen("tcp:127.0.0.1:0") as lst:
        with sockets.connect(lst.address, timeout=5) as a, lst.accept(timeout=5):
            with pytest.raises(ValueError):
                a.peer_credentials()


def test_shutdown_read_and_both():
    a, b = MessageChannel.pair("stream")
    a.shutdown(socket.SHUT_RDWR)
    with pytest.raises(ChannelClosedError):
        b.receive(timeout=5)
    with pytest.raises(BrokenPipeError):
        a.send(b"x")
    a.close()
    b.close()
    a, b = MessageChannel.pair("seqpacket")
    b.shutdown(socket.SHUT_RD)
    with pytest.raises(ChannelClosedError):
        b.receive(timeout=5)  # end of file at once, no wait
    b.send(b"the other direction still works")
    assert a.receive(timeout=5).data == b"the other direction still works"
    a.close()
    b.close()


_SEND_MANY_CHILD = """
import sys
from unixipc.sockets import MessageChannel
a, b = MessageChannel.pair()
messages = [bytes([i % 256]) * (i % 50) for i in range(500)]
print("mark-1", flush=True)
assert a.send_many(messages, timeout=10) == 500
print("mark-2", flush=True)
assert [b.receive(timeout=5).data for _ in messages] == messages
print("mark-3", flush=True)
a.send_many([b"z"] * 1100, timeout=10)
print("mark-4", flush=True)
assert all(b.receive(timeout=5).data == b"z" for _ in range(1100))
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_send_many_uses_one_sendmsg_for_many_frames(tmp_path):
    """Counted by strace: 500 frames go in one sendmsg; more than 512
    frames (1024 iovecs, IOV_MAX) take one call per 512."""
    log = tmp_path / "trace"
    done = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=sendmsg,write", "-o", str(log),
         sys.executable, "-c", _SEND_MANY_CHILD],
        capture_output=True, text=True, timeout=50)
    if done.returncode != 0 and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    calls: dict[int, int] = {}
    mark = 0
    for line in log.read_text().splitlines():
        if "write(1, \"mark-" in line:
            mark = int(line.split("mark-")[1][0])
        elif "sendmsg(" in line:
            calls[mark] = calls.get(mark, 0) + 1
    assert calls.get(1) == 1
    assert calls.get(3) == 3


def test_eof_inside_the_frame_header():
    raw, other = socket.socketpair()
    ch = MessageChannel(other)
    raw.sendall(struct.pack("<Q", 5) + b"hello" + b"\x07\x00\x00")
    raw.close()
    assert ch.receive(timeout=5).data == b"hello"
    with pytest.raises(IncompleteMessageError) as info:
        ch.receive(timeout=5)
    assert (info.value.received, info.value.expected) == (3, None)
    assert "header" in str(info.value)
    ch.close()


def _umask_now() -> int:
    # read without changing it (Linux >= 4.7)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError("no Umask line in /proc/self/status")


def test_listen_mode_does_not_touch_the_process_umask(tmp_path, monkeypatch):
    # listen(mode=...) must not change the process-wide umask, not even
    # briefly: another thread creating files meanwhile gets its own umask.
    calls = []
    real_umask = os.umask

    def spy(mask):
        calls.append(mask)
        return real_umask(mask)

    start = real_umask(0o077)
    try:
        monkeypatch.setattr(os, "umask", spy)
        files = tmp_path / "files"
        files.mkdir()
        stop = threading.Event()
        seen_masks = set()
        made = []

        def creator():
            i = 0
            while not stop.is_set() and i < 100_000:
                p = files / f"f{i}"
                os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
                made.append(p)
                seen_masks.add(_umask_now())
                i += 1

        t = threading.Thread(target=creator, daemon=True)
        t.start()
        try:
            socks = tmp_path / "socks"
            socks.mkdir()
            for i in range(200):
                path = socks / f"s{i}"
                with sockets.listen(f"unix:{path}", mode=0o666):
                    assert path.stat().st_mode & 0o777 == 0o666
                    with sockets.connect(f"unix:{path}", timeout=5):
                        pass
                assert not path.exists()
        finally:
            stop.set()
            t.join(10)
        assert not t.is_alive()
        assert made
        bad = {p.name: oct(p.stat().st_mode & 0o777) for p in made
               if p.stat().st_mode & 0o777 != 0o600}
        assert not bad, f"{len(bad)} of {len(made)} files got another umask"
        assert seen_masks == {0o077}
        assert calls == []
        assert _umask_now() == 0o077
        # nothing left behind next to the socket files
        assert list(socks.iterdir()) == []
    finally:
        real_umask(start)


def test_listen_on_an_existing_path_still_refused(tmp_path):
    path = tmp_path / "taken"
    path.write_text("keep me")
    with pytest.raises(OSError) as info:
        sockets.listen(f"unix:{path}")
    assert info.value.errno == errno.EADDRINUSE
    assert path.read_text() == "keep me"
    with sockets.listen(f"unix:{tmp_path / 'live'}"):
        with pytest.raises(OSError) as info:
            sockets.listen(f"unix:{tmp_path / 'live'}")
        assert info.value.errno == errno.EADDRINUSE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
