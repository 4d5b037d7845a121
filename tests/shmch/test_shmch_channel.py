"""ShmChannel: messages, waiting, end of stream, closed semantics, names."""

from __future__ import annotations

import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import time
import warnings

import pytest

import unixipc
from unixipc import ChannelClosedError, ShmChannel

from support import Child


@pytest.fixture
def ch():
    c = ShmChannel(capacity=1 << 16)
    yield c
    with warnings.catch_warnings():
        c.close()


def test_messages_of_every_size_arrive_intact(ch):
    sizes = [0, 1, 15, 16, 17, 100, 4095, ch.max_message_size]
    for n in sizes:
        data = os.urandom(n)
        ch.send(data)
        assert ch.receive() == data
    ch.send(bytearray(b"ab"))
    ch.send(memoryview(b"xabcx")[1:4])
    assert ch.receive() == b"ab" and ch.receive() == b"abc"


def test_capacity_is_a_power_of_two_and_bounds_the_message():
    with ShmChannel(capacity=5000) as c:
        assert c.capacity == 8192
        assert c.max_message_size < c.capacity // 2
        with pytest.raises(ValueError, match="max_message_size"):
            c.send(b"x" * (c.max_message_size + 1))
        with pytest.raises(BlockingIOError):
            c.receive(block=False)  # nothing was written


def test_bad_arguments_before_anything(ch):
    with pytest.raises(TypeError):
        ch.send("text")
    with pytest.raises(ValueError):
        ch.send(b"x", timeout=-1)
    with pytest.raises(TypeError):
        ch.send(b"x", timeout="soon")
    with pytest.raises(ValueError, match="max_message_size"):
        ch.send(b"x" * (ch.max_message_size + 1), timeout=1)
    with pytest.raises(TypeError):
        ch.send(b"x", tiemout=1)
    with pytest.raises(TypeError):
        ch.receive(timeout="soon")
    with pytest.raises(ValueError):
        ch._receive_auto(1 << 70)
    with pytest.raises(ValueError):
        ch.receive_many(0)
    with pytest.raises(TypeError):
        ShmChannel(capacity="big")
    with pytest.raises(ValueError):
        ShmChannel(name="no-slash")
    with pytest.raises(ValueError):
        ch.send_many([b"ok", b"x" * (ch.max_message_size + 1)])
    with pytest.raises(BlockingIOError):
        ch.receive(block=False)  # the valid first message was not sent either


def test_block_false_and_timeouts(ch):
    with pytest.raises(BlockingIOError):
        ch.receive(block=False)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        ch.receive(timeout=0.2)
    assert 0.19 <= time.monotonic() - start < 2
    with pytest.raises(TimeoutError):
        ch.receive(timeout=0)
    sent = 0
    while True:
        try:
            ch.send(b"m" * 1000, block=False)
        except BlockingIOError:
            break
        sent += 1
    assert sent > 0
    with pytest.raises(TimeoutError):
        ch.send(b"m", timeout=0.05)
    assert len(ch.receive_many(sent + 10)) == sent


def _fill(c, size):
    n = 0
    while True:
        try:
            c.send(b"f" * size, block=False)
        except BlockingIOError:
            return n
        n += 1


def test_space_freed_by_a_receive_is_usable_at_once(ch):
    """Receivers give space back to senders lazily (the sender moves the
    ring's head itself when it finds the ring full): one receive from a
    full ring makes room for one more message at once, and a sender that
    sleeps on a full ring is woken by one receive."""
    assert _fill(ch, 100) > 0
    for _ in range(3):
        ch.receive()
        ch.send(b"f" * 100, block=False)  # the one freed slot, no waiting
        with pytest.raises(BlockingIOError):
            ch.send(b"f" * 100, block=False)
    # a sleeping sender: the child blocks on the full ring until one receive
    child = Child(lambda c: (c.close_receiving(), c.send(b"late", timeout=20)), ch)
    time.sleep(0.3)  # past its spin: asleep on the futex
    first = ch.receive()
    assert first == b"f" * 100
    child.result()
    got = ch.receive_many(100_000)
    assert got[-1] == b"late" and len(got) > 1


def test_send_many_and_receive_many(ch):
    assert ch.send_many([b"a", b"", bytearray(b"c")]) == 3
    assert ch.receive_many(2) == [b"a", b""]
    assert ch.receive_many(10) == [b"c"]
    # a batch larger than the ring: with block=False, what fits is sent
    n = ch.send_many([b"z" * 1000] * 500, block=False)
    assert 0 < n < 500
    assert len(ch.receive_many(1000)) == n


def test_receive_many_takes_exactly_max_count_in_order(ch):
    """receive_many copies the messages after the first in runs (of 256):
    the count asked for is exact across runs, the order is kept and what
    is left stays for the next call."""
    msgs = [i.to_bytes(4, "little") * (i % 5) for i in range(1000)]
    assert ch.send_many(msgs) == 1000
    assert ch.receive_many(700) == msgs[:700]
    assert ch.receive_many(1) == msgs[700:701]
    assert ch.receive_many(10_000) == msgs[701:]
    with pytest.raises(BlockingIOError):
        ch.receive_many(5, block=False)
    # space taken by runs comes back: the ring fills and drains again
    for _ in range(3):
        n = _fill(ch, 100)
        assert n > 0 and len(ch.receive_many(n + 1)) == n


def test_receive_into(ch):
    ch.send(b"hello")
    buf = bytearray(10)
    assert ch.receive_into(buf) == 5 and buf[:5] == b"hello"
    ch.send(b"x" * 20)
    with pytest.raises(ValueError, match="does not fit"):
        ch.receive_into(bytearray(4))
    assert ch.receive() == b"x" * 20  # the message stayed


def test_receive_view_frees_its_space_when_done(ch):
    ch.send(b"zero copy")
    with ch.receive_view() as view:
        assert view.readonly and bytes(view) == b"zero copy"
        with pytest.raises(BufferError):
            ch.close()
    big = b"q" * ch.max_message_size

    def fill():
        n = 0
        while True:
            try:
                ch.send(b"s" * 1000, block=False)
            except BlockingIOError:
                return n
            n += 1

    ch.send(big)
    with ch.receive_view() as view:
        kept = view[:10]
    # a slice still alive keeps the record's space taken
    first = fill()
    assert bytes(kept) == b"q" * 10
    kept.release()
    assert fill() > 0  # released: its space came back
    assert len(ch.receive_many(10_000)) > first


def _eof_child(c):
    c.close_receiving()
    for i in range(1000):
        c.send(i.to_bytes(4, "little"))
    return 0


def test_end_of_stream_after_the_last_sender_exits(ch):
    child = Child(_eof_child, ch)
    ch.close_sending()
    got = []
    with pytest.raises(ChannelClosedError):
        while True:
            got.append(int.from_bytes(ch.receive(timeout=10), "little"))
    assert got == list(range(1000))
    child.result()


def test_end_of_stream_after_the_sender_is_killed(ch):
    def sender(c):
        c.close_receiving()
        c.send(b"last words")
        time.sleep(60)

    child = Child(sender, ch)
    ch.close_sending()
    assert ch.receive(timeout=10) == b"last words"
    os.kill(child.pid, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(ChannelClosedError):
        ch.receive(timeout=10)
    assert time.monotonic() - start < 2
    child.wait()


def test_send_with_no_receiver_left_is_a_broken_pipe(ch):
    ch.close_receiving()
    with pytest.raises(BrokenPipeError):
        ch.send(b"nobody")
    with pytest.raises(ValueError):
        ch.receive()


def test_signals_run_handlers_and_the_wait_resumes_with_the_time_left(ch):
    calls = []
    old = signal.signal(signal.SIGALRM, lambda *a: calls.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            ch.receive(timeout=0.3)
        elapsed = time.monotonic() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(calls) > 10
    assert 0.29 <= elapsed < 3


def test_an_idle_receiver_uses_almost_no_cpu(ch):
    # A receiver that spun or polled would use most of a CPU over the second,
    # or wake hundreds of times. The bounds are far from both and far from
    # the real figures (~0.6 ms, ~10 wake-ups), so a loaded CI machine (page
    # faults after fork count as CPU time) does not trip them.
    def idle(c):
        with pytest.raises(TimeoutError):
            c.receive(timeout=0)  # the first call's faults are not the wait's
        t0, sw0 = time.process_time(), resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
        with pytest.raises(TimeoutError):
            c.receive(timeout=1.0)
        sw = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw - sw0
        return time.process_time() - t0, sw

    used, switches = Child(idle, ch).result(timeout=20)
    assert used < 0.1, used  # under 10% of a CPU over the second
    assert switches < 50, switches  # a bounded number of sleeps, no polling


def test_fd_passing_over_a_unix_socket(ch):
    s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with s1, s2:
        socket.send_fds(s1, [b"x"], [ch.fileno()])
        _, fds, _, _ = socket.recv_fds(s2, 1, 1)
    other = ShmChannel.from_fd(fds[0])
    try:
        ch.send(b"through another handle")
        assert other.receive(timeout=5) == b"through another handle"
    finally:
        other.close()


def _named(request):
    return f"/unixipc-test-{os.getpid()}-{request.node.name[:40]}"


def test_named_channel_from_an_unrelated_process(request):
    name = _named(request)
    with ShmChannel(name=name, capacity=8192, create=True, exclusive=True) as c:
        try:
            st = os.stat("/dev/shm" + name)
            assert stat.S_IMODE(st.st_mode) == 0o600
            # the creator keeps its receiving side open (so the message
            # may wait for the receiver) and simply does not receive
            code = ("import sys, unixipc; c = unixipc.ShmChannel(name=%r); "
                    "sys.stdout.buffer.write(c.receive(timeout=10)); c.close()" % name)
            proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
            c.send(b"hello from afar")
            out, _ = proc.communicate(timeout=20)
            assert proc.returncode == 0 and out == b"hello from afar"
            with pytest.raises(FileExistsError):
                ShmChannel(name=name, create=True, exclusive=True)
            with ShmChannel(name=name, create=True) as again:  # opens it
                assert again.capacity == 8192
        finally:
            c.unlink()
    assert not os.path.exists("/dev/shm" + name)
    with pytest.raises(FileNotFoundError) as info:
        ShmChannel(name=name)
    assert info.value.filename == "/dev/shm" + name


def test_named_channel_never_follows_a_planted_symlink(request, tmp_path):
    name = _named(request)
    target = tmp_path / "victim"
    target.write_bytes(b"precious")
    os.symlink(target, "/dev/shm" + name)
    try:
        with pytest.raises(OSError):
            ShmChannel(name=name)
        with pytest.raises(FileExistsError):
            ShmChannel(name=name, create=True, exclusive=True)
        with pytest.raises(OSError):
            ShmChannel(name=name, create=True)
        assert target.read_bytes() == b"precious"
    finally:
        os.unlink("/dev/shm" + name)


def test_a_file_that_is_not_a_channel_is_refused(request):
    name = _named(request)
    with open("/dev/shm" + name, "wb") as f:
        f.write(os.urandom(64 * 1024))
    try:
        with pytest.raises(ValueError, match="not a unixipc shared-memory channel"):
            ShmChannel(name=name)
    finally:
        os.unlink("/dev/shm" + name)


def test_the_suite_leaves_nothing_in_dev_shm():
    left = [n for n in os.listdir("/dev/shm") if n.startswith((".unixipc-", "unixipc-test-"))]
    assert left == []


def test_send_parts_writes_one_message_from_several_buffers(ch):
    # the queues' path: the pickle and its buffers go into the ring as one record
    ch._send_parts([b"ab", bytearray(b"cd"), memoryview(b"xefx")[1:3], b""])
    ch._send_parts([])
    assert ch.receive(timeout=1) == b"abcdef"
    assert ch.receive(timeout=1) == b""
    half = ch.max_message_size // 2 + 1
    with pytest.raises(ValueError, match="or more is larger"):
        ch._send_parts([b"x" * half, b"y" * half, b"z"])
    with pytest.raises(TypeError):
        ch._send_parts([b"ok", 3])
    with pytest.raises(BlockingIOError):
        ch.receive(block=False)  # nothing was written by the failed calls
    while True:
        try:
            ch._send_parts([b"f", b"g"], block=False)
        except BlockingIOError:
            break
    with pytest.raises(TimeoutError):
        ch._send_parts([b"late"], timeout=0.01)


def test_receive_auto_gives_bytes_up_to_the_limit_and_a_record_beyond(ch):
    # the queues' receive path: small messages as bytes, larger ones in place
    ch.send(b"a" * 8)
    ch.send(b"b" * 9)
    assert ch._receive_auto(8) == b"a" * 8
    rec = ch._receive_auto(8, True, 1)
    assert not isinstance(rec, bytes) and rec.nbytes == 9
    with memoryview(rec) as view:
        assert view.tobytes() == b"b" * 9
    rec.end()
    with pytest.raises(BlockingIOError):
        ch._receive_auto(8, False)
    with pytest.raises(TimeoutError):
        ch._receive_auto(8, timeout=0.01)
    with pytest.raises(TypeError):
        ch._receive_auto("8")
