"""Coprocesses: the add2 filter, pty for buffering filters, no deadlocks,
clear errors when the child goes away."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from unixipc import Coprocess


def test_add2_answers_a_thousand_requests(cpeer):
    with Coprocess([cpeer("co_add2")]) as co:
        for i in range(1000):
            assert co.request(f"{i} {2 * i}", timeout=10) == f"{3 * i}\n".encode()
        assert co.request(b"not numbers", timeout=10) == b"invalid parameter.\n"
        assert co.request("7 -9\n", timeout=10) == b"-2\n"
    assert co.returncode == 0


def test_awk_with_a_pty_answers_line_by_line():
    co = Coprocess(["awk", "{print $1+$2}"], pty=True)
    try:
        assert co.request("1 2", timeout=10) == b"3\n"  # no echo, no \r\n
        assert co.request("40 2", timeout=10) == b"42\n"
    finally:
        status = co.close(timeout=10)
    assert status in (0, -signal.SIGHUP)


def test_awk_on_pipes_buffers_and_request_times_out():
    co = Coprocess(["awk", "{print $1+$2}"])
    try:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            co.request("1 2", timeout=0.5)
        assert 0.49 <= time.monotonic() - t0 < 3.0
        # The answer was only buffered: closing stdin makes awk flush it.
        co.close_input(timeout=5)
        assert co.readline(timeout=10) == b"3\n"
    finally:
        assert co.close(timeout=10) == 0


def test_readline_timeout_then_the_late_line():
    with Coprocess(["sh", "-c", "read x; sleep 1; echo late $x"]) as co:
        co.send("now\n")
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            co.readline(timeout=0.3)
        assert 0.29 <= time.monotonic() - t0 < 2.0
        assert co.readline(timeout=10) == b"late now\n"
    assert co.returncode == 0


def test_python_without_u_needs_a_pty():
    script = "import sys\nfor line in sys.stdin:\n    print(line.strip().upper())\n"
    with Coprocess([sys.executable, "-c", script], pty=True) as co:
        assert co.request("abc", timeout=10) == b"ABC\n"


MIB = 1 << 20
WRITES_FIRST = ("import sys\n"
                "sys.stdout.buffer.write(b'o' * (1 << 20) + b'\\n'); sys.stdout.flush()\n"
                "data = sys.stdin.buffer.read()\n"
                "sys.stdout.buffer.write(b'%d\\n' % len(data))\n")


def test_a_child_that_writes_a_mebibyte_before_reading_does_not_deadlock():
    with Coprocess([sys.executable, "-c", WRITES_FIRST]) as co:
        co.send(b"i" * MIB, timeout=30)  # the child is not reading yet
        co.close_input(timeout=30)
        assert co.readline(timeout=30) == b"o" * MIB + b"\n"
        assert co.readline(timeout=30) == b"%d\n" % MIB
        with pytest.raises(EOFError):
            co.readline(timeout=30)
    assert co.returncode == 0


def test_close_returns_the_exit_status():
    co = Coprocess(["sh", "-c", "read x; echo got $x; exit 7"])
    assert co.request("it", timeout=10) == b"got it\n"
    assert co.close(timeout=10) == 7
    assert co.close() == 7  # idempotent


def test_a_child_that_exits_gives_eof_and_broken_pipe():
    co = Coprocess(["sh", "-c", "echo bye"])
    assert co.readline(timeout=10) == b"bye\n"
    with pytest.raises(EOFError):
        co.readline(timeout=10)
    os.waitid(os.P_PID, co.pid, os.WEXITED | os.WNOWAIT)
    with pytest.raises(BrokenPipeError):
        co.send(b"x" * 200_000, timeout=10)
    assert co.close(timeout=10) == 0


def test_a_pty_child_that_exits_gives_eof():
    co = Coprocess(["sh", "-c", "echo bye"], pty=True)
    assert co.readline(timeout=10) == b"bye\n"
    with pytest.raises(EOFError):
        co.readline(timeout=10)
    assert co.close(timeout=10) == 0


@pytest.mark.parametrize("size", [1, 200_000])
def test_sending_to_a_pty_child_that_exited_is_broken_pipe_not_a_hang(size):
    co = Coprocess(["sh", "-c", "echo bye"], pty=True)
    assert co.readline(timeout=10) == b"bye\n"
    os.waitid(os.P_PID, co.pid, os.WEXITED | os.WNOWAIT)
    cpu0, t0 = time.process_time(), time.monotonic()
    with pytest.raises(BrokenPipeError):
        co.send(b"x" * size, timeout=10)  # the terminal's buffer is 4 KiB
    assert time.monotonic() - t0 < 5 and time.process_time() - cpu0 < 1  # no spinning
    with pytest.raises(EOFError):
        co.readline(timeout=10)
    assert co.close(timeout=10) == 0


def test_a_running_pty_child_that_closes_its_terminal():
    co = Coprocess(["sh", "-c", "echo ready; exec 0<&- 1>&- sleep 20"], pty=True)
    try:
        assert co.readline(timeout=10) == b"ready\n"
        with pytest.raises(EOFError):
            co.readline(timeout=10)
        with pytest.raises(BrokenPipeError):
            co.request("anyone?", timeout=10)
    finally:
        co.kill()
        co.close(timeout=10)


def test_a_running_child_that_closes_its_stdin_or_stdout():
    co = Coprocess(["sh", "-c", "exec 0<&-; echo still here; exec sleep 20"])
    try:
        assert co.readline(timeout=10) == b"still here\n"
        with pytest.raises(BrokenPipeError):
            co.send(b"x" * 200_000, timeout=10)
    finally:
        co.kill()
        co.close(timeout=10)
    co = Coprocess(["sh", "-c", "exec 1>&-; exec sleep 20"])
    try:
        with pytest.raises(EOFError):
            co.request("hello?", timeout=10)
    finally:
        co.kill()
        co.close(timeout=10)


def test_close_does_not_wait_for_a_grandchild_holding_stdout():
    # The shell exits at once; the sleep it started keeps its stdout open.
    co = Coprocess(["sh", "-c", "sleep 20 & echo $!; exit 5"])
    grandchild = int(co.readline(timeout=10))
    try:
        t0 = time.monotonic()
        assert co.close(timeout=10) == 5
        assert time.monotonic() - t0 < 5
    finally:
        os.kill(grandchild, signal.SIGKILL)


def test_killed_child_status():
    co = Coprocess(["sleep", "30"])
    co.kill(signal.SIGTERM)
    assert co.close(timeout=10) == -signal.SIGTERM


def test_close_timeout_leaves_the_child_running():
    co = Coprocess(["sh", "-c", "exec sleep 30 </dev/null"])
    with pytest.raises(TimeoutError):
        co.close(timeout=0.3)
    co.kill()
    assert co.close(timeout=10) == -signal.SIGKILL


def test_bad_arguments():
    with pytest.raises(TypeError):
        Coprocess("awk")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Coprocess([])
    with pytest.raises(FileNotFoundError):
        Coprocess(["/nonexistent/program"])
    with Coprocess(["cat"]) as co:
        with pytest.raises(ValueError):
            co.readline(timeout=-1)


def test_signals_during_readline_are_retried():
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    try:
        with Coprocess(["sh", "-c", "read x; sleep 0.3; echo $x"]) as co:
            signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
            assert co.request("hi", timeout=10) == b"hi\n"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(hits) >= 5


def test_no_descriptors_leak():
    before = set(os.listdir("/proc/self/fd"))
    for pty in (False, True):
        with Coprocess(["cat"], pty=pty) as co:
            co.request("x", timeout=10)
    assert set(os.listdir("/proc/self/fd")) == before


def test_the_child_starts_with_sigpipe_at_its_default_action():
    with Coprocess(["grep", "SigIgn", "/proc/self/status"]) as co:
        ignored = int(co.readline(timeout=10).split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # ours unchanged


def test_block_false_and_timeout_zero_make_one_attempt(cpeer):
    with Coprocess([cpeer("co_add2")]) as co:
        with pytest.raises(BlockingIOError):
            co.readline(block=False)  # nothing asked yet
        with pytest.raises(BlockingIOError):
            co.read(block=False)
        co.send(b"20 22\n", block=False)  # a small line fits the pipe at once
        deadline = time.monotonic() + 10
        while True:
            # the reply is already in the pipe once the child answered: a
            # zero timeout still takes it (one pass, no wait)
            try:
                assert co.readline(timeout=0) == b"42\n"
                break
            except TimeoutError:
                assert time.monotonic() < deadline
                time.sleep(0.01)
    # a peer that takes its time to answer: the request is sent, but with
    # block=False there is no reply at once (co_add2 may answer that fast)
    slow = ["sh", "-c", "while read line; do sleep 0.3; echo \"$line\"; done"]
    with Coprocess(slow) as co:
        with pytest.raises(BlockingIOError):
            co.request("1 2", block=False)
        assert co.readline(timeout=10) == b"1 2\n"  # the reply comes later


def test_block_false_send_keeps_the_rest_queued():
    # cat echoes what it reads; nobody reads its output here, so once both
    # pipes are full a non-blocking send cannot finish
    with Coprocess(["cat"]) as co:
        block = b"x" * (1 << 20)
        with pytest.raises(BlockingIOError):
            co.send(block, block=False)
        got = 0
        while got < len(block):  # everything still arrives, in order
            got += len(co.read(1 << 16, timeout=10))
        assert got == len(block)
