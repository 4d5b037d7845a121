"""Anonymous pipes against the real kernel: capacity, PIPE_BUF atomicity,
EOF, SIGPIPE, non-blocking and timed I/O, packet mode."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

import unixipc
from support import NOBODY, Child, wait_blocked
from unixipc import Pipe, PIPE_BUF


def test_pipe_buf_and_default_capacity():
    assert PIPE_BUF == 4096 == unixipc.PIPE_BUF
    with Pipe() as p:
        assert p.capacity == 65536
        assert p.reader.capacity == 65536


def _set_above_the_maximum() -> tuple[int, str, int]:
    with Pipe() as p:
        limit = unixipc.pipe.pipe_max_size()
        try:
            p.capacity = limit * 2
        except PermissionError as exc:
            return exc.errno, str(exc), p.capacity
    return 0, "", 0


def test_set_capacity_to_one_mebibyte_and_above_the_maximum():
    with Pipe() as p:
        p.capacity = 1 << 20
        assert p.capacity == 1 << 20
        p.writer.write(b"z" * 100_000, block=False)  # fits without waiting now
    # Unprivileged (no CAP_SYS_RESOURCE): a child running as nobody.
    child = Child(_set_above_the_maximum, uid=NOBODY)
    try:
        err, message, capacity = child.result()
    finally:
        child.close()
    assert err == 1
    assert "pipe-max-size" in message
    assert capacity == 65536  # unchanged


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-5, ValueError), ("4096", TypeError),
                                      (1.5, TypeError), (True, TypeError)])
def test_bad_capacity_is_refused_before_any_call(bad, exc):
    with Pipe() as p:
        with pytest.raises(exc):
            p.capacity = bad
        assert p.capacity == 65536


def test_ends_are_close_on_exec_binary_file_objects():
    with Pipe() as p:
        assert not os.get_inheritable(p.reader.fileno())
        assert not os.get_inheritable(p.writer.fileno())
        assert p.reader.readable() and not p.reader.writable()
        assert p.writer.writable() and not p.writer.readable()
        assert p.writer.write(b"hello") == 5
        assert p.reader.read(100) == b"hello"


def test_eof_after_the_writer_closes():
    p = Pipe()
    p.writer.write(b"last words")
    p.writer.close()
    assert p.reader.read(4) == b"last"
    assert p.reader.read(100) == b" words"
    assert p.reader.read(100) == b""
    assert p.reader.read() == b""
    p.close()


def _writer(fd: int, wid: int, count: int) -> int:
    w = unixipc.PipeWriter(fd)
    body = bytes([65 + wid]) * (PIPE_BUF - 8)
    for seq in range(count):
        w.write_record(struct.pack("<II", wid, seq) + body)
    w.close()
    return count


def test_four_writers_records_of_pipe_buf_never_interleave():
    writers, count = 4, 2000
    p = Pipe()
    children = [Child(_writer, p.writer.fileno(), wid, count) for wid in range(writers)]
    p.writer.close()
    next_seq = [0] * writers
    try:
        for _ in range(writers * count):
            rec = p.reader.read_exactly(PIPE_BUF, timeout=30)
            wid, seq = struct.unpack("<II", rec[:8])
            assert rec[8:] == bytes([65 + wid]) * (PIPE_BUF - 8), "interleaved record"
            assert seq == next_seq[wid]
            next_seq[wid] += 1
        assert p.reader.read(1, timeout=10) == b""  # every writer gone
        assert [c.result() for c in children] == [count] * writers
    finally:
        for c in children:
            c.close()
        p.close()


def test_write_record_refuses_more_than_pipe_buf():
    with Pipe(nonblock=True) as p:
        with pytest.raises(ValueError, match="PIPE_BUF"):
            p.writer.write_record(b"x" * (PIPE_BUF + 1))
        with pytest.raises(BlockingIOError):
            p.reader.read(1)  # nothing was written
        assert p.writer.write_record(b"x" * PIPE_BUF) == PIPE_BUF


def _blocked_reader(rfd: int, wfd: int) -> bytes:
    os.close(wfd)  # this child's copy of the writer
    return unixipc.PipeReader(rfd).read(10, timeout=20)


def test_every_blocked_reader_wakes_when_the_last_writer_closes():
    p = Pipe()
    children = [Child(_blocked_reader, p.reader.fileno(), p.writer.fileno()) for _ in range(3)]
    try:
        for c in children:
            wait_blocked(c.pid)
        p.writer.close()
        assert [c.result(timeout=10) for c in children] == [b"", b"", b""]
    finally:
        for c in children:
            c.close()
        p.close()


def test_broken_pipe_error_and_the_writer_lives():
    p = Pipe()
    p.reader.close()
    with pytest.raises(BrokenPipeError) as info:
        p.writer.write(b"nobody listens")
    assert info.value.errno == 32
    p.close()


def _write_broken_with_default_sigpipe() -> tuple[str, object, bool]:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    p = Pipe()
    p.reader.close()
    outcomes = []
    for kwargs in ({}, {"timeout": 5}, {"block": False}):  # plain, ppoll + RWF_NOWAIT
        try:
            p.writer.write(b"x" * 10, **kwargs)
            outcomes.append("wrote")
        except BrokenPipeError:
            outcomes.append("BrokenPipeError")
    outcome = outcomes[0] if len(set(outcomes)) == 1 else repr(outcomes)
    disposition = signal.getsignal(signal.SIGPIPE)
    pending = signal.SIGPIPE in signal.sigpending()
    return outcome, disposition == signal.SIG_DFL, pending


def test_sigpipe_default_action_does_not_kill_the_writer():
    c = Child(_write_broken_with_default_sigpipe)
    try:
        outcome, still_default, pending = c.result()
    finally:
        c.close()
    assert outcome == "BrokenPipeError"
    assert still_default  # the program's disposition was not changed
    assert not pending  # the SIGPIPE caused by the write was consumed


def test_sigpipe_default_in_a_fresh_interpreter():
    code = ("import signal, unixipc\n"
            "signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n"
            "p = unixipc.Pipe(); p.reader.close()\n"
            "try:\n    p.writer.write(b'x')\nexcept BrokenPipeError:\n    print('survived')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "survived"


def _caller_blocked_sigpipe() -> tuple[bool, bool]:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGPIPE])
    os.kill(os.getpid(), signal.SIGPIPE)  # the caller's own pending SIGPIPE
    p = Pipe()
    p.reader.close()
    try:
        p.writer.write(b"x")
    except BrokenPipeError:
        pass
    still_pending = signal.SIGPIPE in signal.sigpending()
    still_blocked = signal.SIGPIPE in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    signal.sigtimedwait([signal.SIGPIPE], 0)
    return still_pending, still_blocked


def test_a_sigpipe_pending_before_the_write_is_left_to_the_caller():
    c = Child(_caller_blocked_sigpipe)
    try:
        assert c.result() == (True, True)
    finally:
        c.close()


def test_nonblocking_ends():
    with Pipe(nonblock=True) as p:
        assert p.reader.nonblocking and p.writer.nonblocking
        with pytest.raises(BlockingIOError):
            p.reader.read(10)
        big = b"q" * 100_000
        n = p.writer.write(big)
        assert 0 < n <= p.capacity
        with pytest.raises(BlockingIOError):
            p.writer.write(b"more")
        assert len(p.reader.read(200_000)) > 0


def test_block_false_on_a_blocking_end():
    with Pipe() as p:
        with pytest.raises(BlockingIOError):
            p.reader.read(10, block=False)
        p.writer.write(b"abc")
        assert p.reader.read(10, block=False) == b"abc"


def test_read_timeout():
    with Pipe() as p:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            p.reader.read(10, timeout=0.3)
        assert 0.29 <= time.monotonic() - t0 < 2.0
        assert info.value.errno == 110
        with pytest.raises(TimeoutError):
            p.reader.read(10, timeout=0)
        with pytest.raises(ValueError):
            p.reader.read(10, timeout=-1)
        with pytest.raises(TypeError):
            p.reader.read(10, timeout="1")


def test_write_timeout_on_a_full_pipe_reports_what_was_written():
    with Pipe() as p:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            p.writer.write(b"w" * 200_000, timeout=0.3)
        assert 0.29 <= time.monotonic() - t0 < 2.0
        assert info.value.characters_written == 65536


def test_packet_mode_keeps_write_boundaries():
    with Pipe(packet=True) as p:
        assert os.get_blocking(p.reader.fileno()) and not os.get_inheritable(p.reader.fileno())
        p.writer.write(b"one")
        p.writer.write(b"two!")
        assert p.reader.read(100) == b"one"
        assert p.reader.read(100) == b"two!"
        p.writer.write(b"abcdef")
        p.writer.write(b"next")
        assert p.reader.read(3) == b"abc"  # the rest of that packet is gone
        assert p.reader.read(100) == b"next"


def test_packet_mode_between_processes():
    with Pipe(packet=True) as p:
        child = Child(_write_packets, p.writer.fileno(), p.reader.fileno())
        try:
            got = [p.reader.read(PIPE_BUF, timeout=10) for _ in range(50)]
            assert child.result() == 50
        finally:
            child.close()
    assert got == [bytes([i]) * (i + 1) for i in range(50)]


def _write_packets(wfd: int, rfd: int) -> int:
    os.close(rfd)
    w = unixipc.PipeWriter(wfd)
    for i in range(50):
        w.write(bytes([i]) * (i + 1))
    w.close()
    return 50


def test_an_exec_started_program_does_not_inherit_the_ends():
    # A real exec that keeps every descriptor not marked close-on-exec: the
    # reader still sees EOF as soon as the parent closes its writer.
    with Pipe() as p:
        pipe = os.readlink(f"/proc/self/fd/{p.writer.fileno()}")
        pid = os.posix_spawn("/bin/sleep", ["sleep", "10"], os.environ)
        try:
            wait_blocked(pid)  # sleeping in the new program: exec is complete
            held = [os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")]
            assert pipe not in held
            p.writer.close()
            assert p.reader.read(1, timeout=5) == b""
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def test_nonblock_option_sets_o_nonblock_on_both_ends():
    with Pipe(nonblock=True) as p:
        assert not os.get_blocking(p.reader.fileno())
        assert not os.get_blocking(p.writer.fileno())
    with Pipe() as p:
        assert os.get_blocking(p.reader.fileno()) and os.get_blocking(p.writer.fileno())


def test_hand_the_writer_to_a_subprocess():
    with Pipe() as p:
        fd = p.writer.fileno()
        proc = subprocess.Popen([sys.executable, "-c", f"import os; os.write({fd}, b'from child')"],
                                pass_fds=[fd])
        p.writer.close()
        assert proc.wait(timeout=10) == 0
        assert p.reader.readall(timeout=10) == b"from child"


def test_signals_during_a_blocking_read_are_retried():
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    p = Pipe()
    timer = threading.Timer(0.4, p.writer.write, args=(b"late",))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
        timer.start()
        assert p.reader.read(10) == b"late"
        timer.join()
        p.writer.close()
        assert p.reader.read(10, timeout=5) == b""
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        timer.join()
        p.close()
    assert len(hits) >= 5


def test_handler_exception_ends_a_blocking_read():
    def boom(*a):
        raise KeyError("from handler")

    old = signal.signal(signal.SIGALRM, boom)
    try:
        with Pipe() as p:
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            with pytest.raises(KeyError):
                p.reader.read(1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_a_stale_bound_method_never_reaches_a_reused_descriptor():
    p = Pipe()
    write = p.writer.write
    fd = p.writer.fileno()
    p.writer.close()
    other = os.open("/dev/null", os.O_WRONLY)  # likely reuses fd's number
    try:
        with pytest.raises(ValueError):
            write(b"x")
        with pytest.raises(ValueError):
            p.writer.fileno()
    finally:
        os.close(other)
        p.close()
    assert fd >= 0


def test_ends_are_raw_io_objects_and_buffered_wrappers_work():
    import io
    with Pipe() as p:
        assert isinstance(p.reader, io.RawIOBase) and isinstance(p.writer, io.RawIOBase)
        buffered = io.BufferedWriter(p.writer)
        buffered.write(b"line one\nline two\n")
        buffered.flush()
        p.writer.close()
        assert list(p.reader) == [b"line one\n", b"line two\n"]


def test_detach_leaves_the_descriptor_open():
    p = Pipe()
    fd = p.writer.detach()
    assert p.writer.closed
    os.write(fd, b"still open")
    os.close(fd)
    assert p.reader.read() == b"still open"
    p.close()


def test_signals_during_a_blocking_write_are_retried():
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    p = Pipe()
    big = bytes(range(256)) * 2048  # 512 KiB: blocks on the 64 KiB pipe
    got = bytearray()

    def drain() -> None:
        time.sleep(0.3)
        while len(got) < len(big):
            got.extend(p.reader.read(65536, timeout=10))

    reader = threading.Thread(target=drain)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        reader.start()
        assert p.writer.write(big) == len(big)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        reader.join(timeout=20)
        p.close()
    assert bytes(got) == big
    assert len(hits) >= 5


def test_handler_exception_during_a_blocking_write_reports_the_count():
    def boom(*a):
        raise KeyError("from handler")

    old = signal.signal(signal.SIGALRM, boom)
    try:
        with Pipe() as p:
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            with pytest.raises(KeyError):
                p.writer.write(b"f" * 200_000)  # fills 64 KiB, then blocks
            assert len(p.reader.read(200_000)) == 65536
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _timed_reader(rfd: int, wfd: int) -> int:
    os.close(wfd)
    r = unixipc.PipeReader(rfd)
    got = 0
    while True:
        try:
            got += len(r.read(1, timeout=0.3))
        except TimeoutError:
            return got


def test_timed_readers_sharing_a_blocking_pipe_never_overrun_the_timeout():
    # Each byte wakes every reader waiting in ppoll; one takes it. The others
    # must wait again with the time left, never block in read(2): the writer
    # stays open, so a reader stuck there would never return.
    p = Pipe()
    children = [Child(_timed_reader, p.reader.fileno(), p.writer.fileno()) for _ in range(4)]
    try:
        for c in children:
            wait_blocked(c.pid)
        for _ in range(300):
            p.writer.write(b"x")
            time.sleep(0.0005)
        assert sum(c.result(timeout=15) for c in children) == 300
    finally:
        for c in children:
            c.close()
        p.close()


def _nonblocking_reader(rfd: int, wfd: int, seconds: float) -> int:
    os.close(wfd)
    r = unixipc.PipeReader(rfd)
    got = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            got += len(r.read(1, block=False))
        except BlockingIOError:
            time.sleep(0.0002)
    return got


def test_block_false_readers_sharing_a_blocking_pipe_never_block():
    p = Pipe()
    children = [Child(_nonblocking_reader, p.reader.fileno(), p.writer.fileno(), 1.5)
                for _ in range(3)]
    try:
        for _ in range(300):
            p.writer.write(b"x")
            time.sleep(0.0005)
        assert sum(c.result(timeout=15) for c in children) == 300
    finally:
        for c in children:
            c.close()
        p.close()


def _timed_writer(wfd: int, rfd: int) -> int:
    os.close(rfd)
    w = unixipc.PipeWriter(wfd)
    sent = 0
    while True:
        try:
            sent += w.write(b"r" * PIPE_BUF, timeout=0.3)
        except TimeoutError as exc:
            return sent + getattr(exc, "characters_written", 0)


def test_timed_writers_sharing_a_full_pipe_never_overrun_the_timeout():
    # Each page the reader frees wakes every writer waiting in ppoll; one
    # fills it. The others must wait again, never block in write(2).
    p = Pipe()
    children = [Child(_timed_writer, p.writer.fileno(), p.reader.fileno()) for _ in range(4)]
    got = 0
    try:
        time.sleep(0.2)  # the pipe fills up
        for _ in range(100):
            got += len(p.reader.read(PIPE_BUF, timeout=10))
            time.sleep(0.001)
        # the reader stays open: a writer stuck in write(2) would never return
        sent = sum(c.result(timeout=15) for c in children)
        p.writer.close()
        assert sent == got + len(p.reader.readall(timeout=10))
    finally:
        for c in children:
            c.close()
        p.close()


def test_a_huge_read_size_reads_what_is_there():
    # The buffer is sized by what one read can return (the pipe's
    # capacity), not by size: no MemoryError, nothing lost.
    with Pipe() as p:
        with pytest.raises(TimeoutError):
            p.reader.read(2**62, timeout=0)
        with pytest.raises(BlockingIOError):
            p.reader.read(sys.maxsize, block=False)
        p.writer.write(b"abc")
        assert p.reader.read(2**62, timeout=0) == b"abc"
        p.capacity = 1 << 20
        data = bytes(range(256)) * 4096  # 1 MiB: fills the larger pipe
        assert p.writer.write(data, timeout=10) == len(data)
        assert p.reader.read(2**62, timeout=10) == data
