"""The two-process workloads' engine (unixipc.bench.twoproc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from support import wait_blocked, wait_until


def _children(pid: int) -> list[int]:
    found = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            found += [int(p) for p in f.read().split()]
    return found


@pytest.mark.timeout(60)
def test_a_dead_child_ends_the_parents_blocked_send():
    """The child dies while the parent is blocked sending to it on a full
    System V queue (a send with no timeout): the parent's send ends with
    RuntimeError naming the child, where before it waited forever (as after
    a Ctrl-C whose SIGINT reached the parent just before the call)."""
    code = textwrap.dedent("""\
        import sys
        from unixipc.bench import twoproc
        from unixipc.bench.msg import msgqueue_transport
        try:
            twoproc.one_way(msgqueue_transport(), 64, 10**9)
        except RuntimeError as e:
            print("RuntimeError:", e)
            sys.exit(3)
        """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        child = wait_until(lambda: _children(proc.pid), timeout=30)[0]
        os.kill(child, signal.SIGSTOP)  # the queue fills: the parent blocks in msgsnd
        wait_blocked(proc.pid, timeout=30)
        os.kill(child, signal.SIGKILL)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, (out, err)
    assert f"benchmark child {child} died" in out


def test_a_child_dying_during_the_parents_clean_up_keeps_its_exception():
    """Ctrl-C reaches both processes: the parent, cleaning up after its
    KeyboardInterrupt, gets the SIGCHLD of the child the same Ctrl-C killed.
    The watch must not replace the KeyboardInterrupt (the bench then exited 1
    instead of 130 and, leaving its clean-up half done, left its queue)."""
    from unixipc.bench import twoproc

    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped
    try:
        with pytest.raises(RuntimeError, match=f"benchmark child {pid} died"):
            twoproc._watch(pid)  # a child dead already: said at once
        with pytest.raises(KeyboardInterrupt):
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                signal.raise_signal(signal.SIGCHLD)  # its handler runs here
                raise
        with pytest.raises(RuntimeError, match=f"benchmark child {pid} died"):
            signal.raise_signal(signal.SIGCHLD)  # outside the clean-up it does raise
    finally:
        twoproc._unwatch(pid)
        os.waitpid(pid, 0)
