"""unixipc tour: runs, holds, and leaves nothing behind (also on Ctrl-C)."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import tempfile
import time

from support import sysv_objects


def tour_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "unixipc-tour-*")))


def test_tour_holds_and_cleans_up(cli):
    before_dirs, before_objs = tour_dirs(), sysv_objects()
    r = cli("tour")
    assert r.status == 0, r.out + r.err
    assert "rule:" in r.out
    assert tour_dirs() == before_dirs
    assert sysv_objects() <= before_objs


def test_tour_only_and_list(cli):
    r = cli("tour", "--list")
    assert r.status == 0 and "ftok" in r.out
    r = cli("tour", "--only", "ftok")
    assert r.status == 0 and "[1/1]" in r.out
    assert cli("tour", "--only", "nonsense").status == 2


def test_tour_interrupted_cleans_up():
    before_dirs, before_objs = tour_dirs(), sysv_objects()
    proc = subprocess.Popen([sys.executable, "-m", "unixipc", "tour"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Interrupt as soon as the tour has started its first step.
    line = proc.stdout.readline()
    assert line.startswith(b"[1/"), line
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode in (0, 130)
    assert tour_dirs() == before_dirs
    assert sysv_objects() <= before_objs
