"""ls --watch and stat --watch: a live view, redrawn on a terminal, one JSON
line per tick to a pipe, ended cleanly by Ctrl-C or by its reader."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from support import wait_blocked, wait_until

import unixipc
from unixipc.cli import ExitStatus

UNIXIPC = [sys.executable, "-m", "unixipc"]


def test_json_line_per_tick_follows_changes(ipc_tracker):
    ident = ipc_tracker.ipcmk("-S", "2")
    sems = unixipc.SemaphoreSet.from_id(ident)
    proc = subprocess.Popen(UNIXIPC + ["ls", "-s", "--watch", "0.2", "--ticks", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = json.loads(proc.stdout.readline())
        sems.values = [3, 4]
        lines = [json.loads(line) for line in proc.stdout]
        status = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert status == 0 and len(lines) == 2
    (before,) = [r for r in first["sem"] if r["id"] == ident]
    (after,) = [r for r in lines[-1]["sem"] if r["id"] == ident]
    assert before["values"] == [0, 0] and after["values"] == [3, 4]
    assert "T" in first["time"]


def test_stat_watch_shows_waiters(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-S", "2")
    waiter = subprocess.Popen(UNIXIPC + ["sem", "op", str(ident), "0:-1", "--timeout", "30"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: unixipc.SemaphoreSet.from_id(ident)[0].ncount == 1, timeout=20)
        r = cli("stat", "-s", str(ident), "--watch", "0.05", "--ticks", "2")
    finally:
        waiter.kill()
        waiter.wait()
    assert r.status == 0, r.err
    ticks = [json.loads(line) for line in r.out.splitlines()]
    assert len(ticks) == 2 and all(t["ncount"] == [1, 0] and t["zcount"] == [0, 0]
                                   for t in ticks)


def test_terminal_is_redrawn_in_place(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    r = cli("ls", "-q", "--watch", "0.05", "--ticks", "2", tty=True)
    assert r.status == 0
    frames = r.out.split("\x1b[H\x1b[2J")
    assert frames[0] == "" and len(frames) == 3
    for frame in frames[1:]:
        assert "Message queues" in frame and any(
            line.split()[1:2] == [str(ident)] for line in frame.splitlines())


@pytest.mark.timeout(60)
def test_ctrl_c_ends_the_watch_cleanly(ipc_tracker):
    ipc_tracker.ipcmk("-Q")
    proc = subprocess.Popen(UNIXIPC + ["ls", "--watch", "0.1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.stdout.readline()
        wait_blocked(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == ExitStatus.INTERRUPTED and err == b"unixipc: interrupted\n"


@pytest.mark.timeout(60)
def test_watch_into_head_ends():
    done = subprocess.run(["bash", "-c", " ".join(UNIXIPC) + " ls --watch 0.05 | head -2; "
                           "echo status ${PIPESTATUS[0]}"], capture_output=True, text=True,
                          timeout=30)
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and lines[-1] == "status 141" and done.stderr == ""


def test_watch_refusals(cli):
    assert cli("ls", "--watch", "0").status == ExitStatus.USAGE
    assert cli("ls", "-l", "--watch").status == ExitStatus.USAGE
    assert cli("ls", "--watch", "1", "--ticks", "0").status == ExitStatus.USAGE
