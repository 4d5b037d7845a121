"""unixipc tour: runs, holds, and leaves nothing behind (also on Ctrl-C)."""

from __future__ import annotations

import fcntl
import glob
import io
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from support import sysv_objects, wait_blocked, wait_until

import unixipc
from unixipc.cli import Environment, ExitStatus, main
from unixipc.cli.tour_steps import STEPS


@pytest.fixture(autouse=True)
def private_tmpdir(tmp_path, monkeypatch):
    """Tours made here put their directory under tmp_path (other test runs
    on the machine make theirs in /tmp at the same time)."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def tour_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "unixipc-tour-*")))


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


def test_tour_holds_and_cleans_up(any_cli):
    before_dirs, before_objs = tour_dirs(), sysv_objects()
    t0 = time.monotonic()
    r = any_cli("tour")
    assert r.status == 0, r.out + r.err
    assert time.monotonic() - t0 < 30  # "about ten seconds" on a loaded machine
    for number, step in enumerate(STEPS, 1):
        assert f"[{number}/{len(STEPS)}] {step.title}  ({step.name})" in r.out
    assert r.out.count("rule:") >= len(STEPS) and r.out.count("  ok\n") == len(STEPS)
    assert r.out.rstrip().endswith("nothing left behind.")
    assert tour_dirs() == before_dirs
    assert sysv_objects() <= before_objs


def test_tour_covers_every_mechanism():
    assert [s.name for s in STEPS] == ["pipe", "popen", "coproc", "fifo", "ftok", "msg",
                                       "sem", "shm", "sock", "shmch", "netdb"]


def test_tour_only_and_list(cli):
    r = cli("tour", "--list")
    assert r.status == 0 and [line.split()[0] for line in r.out.splitlines()] == [
        s.name for s in STEPS]
    r = cli("tour", "--only", "ftok", "--only", "netdb")
    assert r.status == 0 and "[1/2]" in r.out and "(netdb)" in r.out and "(msg)" not in r.out
    assert cli("tour", "--only", "nonsense").status == 2


@pytest.mark.parametrize("step", ["fifo", "msg", "sem", "shm", "sock"])
def test_tour_interrupted_midway_cleans_up(step):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it)
    while the tour is inside a step, with the step's objects alive."""
    before_dirs, before_objs = tour_dirs(), sysv_objects()
    title = next(s.title for s in STEPS if s.name == step)
    header = f"[1/1] {title}  ({step})\n".encode()
    # stdout is a one-page pipe, pre-filled so that exactly the step's header
    # fits: the tour then blocks writing the step's first report line, after
    # it made what the step shows (a queue, a FIFO, a child, ...).
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    os.write(w, b"#" * (4096 - len(header)))
    proc = subprocess.Popen([sys.executable, "-m", "unixipc", "tour", "--only", step],
                            stdout=w, stderr=subprocess.PIPE, start_new_session=True)
    os.close(w)
    try:
        wait_until(lambda: tour_dirs() - before_dirs, timeout=20)
        wait_blocked(proc.pid, timeout=20)
        time.sleep(0.1)
        wait_blocked(proc.pid, timeout=20)
        if step in ("msg", "sem", "shm"):
            assert sysv_objects() - before_objs, "the step's object should exist now"
        else:
            (made,) = tour_dirs() - before_dirs
            assert os.listdir(made), "the step's FIFO or socket should exist now"
        if step == "sock":
            assert len(session_members(proc.pid)) == 2  # the tour and its child
        os.killpg(proc.pid, signal.SIGINT)
        out = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if select.select([r], [], [], 1)[0]:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                out += chunk
        err = proc.stderr.read()
        assert proc.wait(timeout=30) == ExitStatus.INTERRUPTED == 130
    finally:
        os.close(r)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
    assert out.lstrip(b"#").startswith(header)
    assert b"all 1 steps held" not in out
    assert err.endswith(b"unixipc: interrupted\n")
    assert tour_dirs() == before_dirs
    assert sysv_objects() <= before_objs
    assert session_members(proc.pid) == []


def test_tour_interrupted_in_process(monkeypatch):
    """The same, in-process: a real SIGINT arrives while the queue step runs."""
    before_dirs, before_objs = tour_dirs(), sysv_objects()
    seen: list[set] = []

    class Interrupting(io.StringIO):
        def write(self, text: str) -> int:
            if "a child sent types" in text and not seen:
                seen.append(sysv_objects() - before_objs)
                os.kill(os.getpid(), signal.SIGINT)
            return super().write(text)

    out, err = Interrupting(), io.StringIO()
    status = main(["tour"], Environment(stdout=out, stderr=err, stdout_isatty=False))
    assert status == ExitStatus.INTERRUPTED
    assert seen and {kind for kind, _ in seen[0]} == {"msg"}
    assert "(msg)" in out.getvalue() and "(sem)" not in out.getvalue()
    assert err.getvalue() == "unixipc: interrupted\n"
    assert tour_dirs() == before_dirs and sysv_objects() <= before_objs


def test_tour_fails_non_zero_when_a_rule_does_not_hold(cli, monkeypatch):
    from unixipc.cli import tour_steps

    made = []

    def broken(ctx):
        mq = unixipc.MessageQueue(create=True)
        made.append(mq.id)
        ctx.defer(mq.remove)
        ctx.check(False, "the rule did not hold")

    def crashing(ctx):
        raise RuntimeError("a bug in a step")

    monkeypatch.setattr(tour_steps, "STEPS", [
        tour_steps.Step("broken", "A step whose rule fails", broken),
        tour_steps.Step("crash", "A step that crashes", crashing),
        next(s for s in STEPS if s.name == "ftok")])
    r = cli("tour")
    assert r.status == ExitStatus.CHECK_FAILED == 3
    assert "FAILED: the rule did not hold" in r.out
    assert "FAILED: RuntimeError: a bug in a step" in r.out
    assert "[3/3] System V keys: ftok  (ftok)" in r.out  # later steps still ran
    assert "2 of 3 steps failed: broken, crash" in r.out
    assert ("msg", made[0]) not in sysv_objects()


def test_tour_into_a_closed_pipe_stops_quietly_and_cleans_up():
    """``unixipc tour | head -1``: the tour stops at its next line, cleans
    up and exits 141 (as if killed by SIGPIPE) without an error message."""
    before_objs = sysv_objects()
    proc = subprocess.Popen([sys.executable, "-m", "unixipc", "tour"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline().startswith(b"[1/")
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=30) == ExitStatus.BROKEN_PIPE == 141
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert err == b""
    assert tour_dirs() == set() and sysv_objects() <= before_objs
