"""SIGTERM and SIGHUP (what kill, timeout and systemd send; a closed
terminal) clean up as Ctrl-C does, and forked children die with the
command even when it is killed outright (issue 13)."""

from __future__ import annotations

import fcntl
import glob
import os
import select
import signal
import subprocess
import sys
import time

import pytest
from support import remove_object, sysv_objects, wait_blocked, wait_until

from unixipc.cli import ExitStatus
from unixipc.cli.tour_steps import STEPS

STATUS = {signal.SIGTERM: (ExitStatus.TERMINATED, b"unixipc: terminated\n"),
          signal.SIGHUP: (ExitStatus.HANGUP, b"unixipc: hung up\n")}


def session_members(sid: int) -> list[int]:
    """Processes (other than zombies) whose session id is sid."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(stat.split("/")[2]))
    return found


def _start_bench() -> tuple[subprocess.Popen[bytes], set[tuple[str, int]]]:
    before = sysv_objects()
    proc = subprocess.Popen([sys.executable, "-m", "unixipc", "bench", "--only", "shm",
                             "--sizes", "64", "--count", "10000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    # the shm workload: a segment and a semaphore set, and a forked child
    wait_until(lambda: len(sysv_objects() - before) >= 2, timeout=30)
    wait_until(lambda: len(session_members(proc.pid)) == 2, timeout=30)
    time.sleep(0.2)
    return proc, before


@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_bench_signal_to_the_parent_alone_cleans_up(sig):
    """The signal goes to the command's pid only (as kill PID and timeout
    send it), not to its process group: the command itself must end its
    child and remove the segment and the semaphore set."""
    proc, before = _start_bench()
    try:
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=30)
        wait_until(lambda: session_members(proc.pid) == [], timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    status, message = STATUS[sig]
    assert proc.returncode == status
    assert err.endswith(message) and out == b""
    assert sysv_objects() <= before


@pytest.mark.timeout(90)
def test_bench_child_dies_with_a_killed_parent():
    """SIGKILL cannot be caught: the objects stay (nothing can remove them),
    but the child must not run on, reparented to init (PR_SET_PDEATHSIG)."""
    proc, before = _start_bench()
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        wait_until(lambda: session_members(proc.pid) == [], timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for kind, ident in sysv_objects() - before:
            remove_object(kind, ident)


def tour_dirs(tmp: str) -> set[str]:
    return set(glob.glob(os.path.join(tmp, "unixipc-tour-*")))


@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("step", ["fifo", "sock"])
def test_tour_signal_midway_cleans_up(step, sig, tmp_path):
    before_objs = sysv_objects()
    env = dict(os.environ, TMPDIR=str(tmp_path))
    title = next(s.title for s in STEPS if s.name == step)
    header = f"[1/1] {title}  ({step})\n".encode()
    # A one-page pipe pre-filled so that only the step's header fits: the
    # tour blocks on its first report line, with the step's FIFO (or socket
    # and child) made.
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    os.write(w, b"#" * (4096 - len(header)))
    proc = subprocess.Popen([sys.executable, "-m", "unixipc", "tour", "--only", step],
                            stdout=w, stderr=subprocess.PIPE, start_new_session=True, env=env)
    os.close(w)
    try:
        (made,) = wait_until(lambda: tour_dirs(str(tmp_path)), timeout=20)
        wait_blocked(proc.pid, timeout=20)
        time.sleep(0.1)
        wait_blocked(proc.pid, timeout=20)
        assert os.listdir(made), "the step's FIFO or socket should exist now"
        os.kill(proc.pid, sig)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if select.select([r], [], [], 1)[0] and not os.read(r, 65536):
                break
        err = proc.stderr.read()
        proc.wait(timeout=30)
        wait_until(lambda: session_members(proc.pid) == [], timeout=10)
    finally:
        os.close(r)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
    status, message = STATUS[sig]
    assert proc.returncode == status
    assert err.endswith(message)
    assert tour_dirs(str(tmp_path)) == set()
    assert sysv_objects() <= before_objs


def test_nohup_keeps_sighup_ignored(tmp_path):
    """Started with SIGHUP ignored (nohup), the command leaves it ignored."""
    code = ("import signal, sys; from unixipc.cli import main; "
            "signal.signal(signal.SIGHUP, signal.SIG_IGN); "
            "sys.exit(main(['tour', '--list']) or "
            "(signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
