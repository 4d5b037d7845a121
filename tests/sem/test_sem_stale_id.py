"""A SemaphoreSet whose id was removed and reused by a larger set.

GETALL/SETALL must size their buffers from a fresh IPC_STAT, and a handle
whose remembered count no longer matches must raise ObjectRemovedError
(EIDRM) naming the set, before any GETALL/SETALL reaches the kernel.
"""
from __future__ import annotations

import errno
import os
import signal
import time

import pytest

import unixipc

NEXT_ID = "/proc/sys/kernel/sem_next_id"


def _run_in_child(body, timeout=20.0):
    """Run body() in a forked child; return its wait status (bounded)."""
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            signal.alarm(int(timeout))
            code = body()
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout + 5
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("child did not finish in time")
        time.sleep(0.01)


def _write_next_id(value):
    try:
        with open(NEXT_ID, "w") as f:
            f.write(f"{value}\n")
    except PermissionError as e:
        pytest.skip(f"cannot write {NEXT_ID}: {e}")
    except FileNotFoundError:
        pytest.skip(f"{NEXT_ID} not available")


def test_stale_handle_to_reused_larger_set(ipc_tracker):
    old = unixipc.SemaphoreSet(None, 1, create=True)
    old_id = old.id
    old.remove()
    _write_next_id(old_id)
    new = unixipc.SemaphoreSet(None, 500, create=True)
    ipc_tracker.track("sem", new.id)
    if new.id != old_id:
        pytest.skip(f"id not reused ({new.id} != {old_id})")
    new.values = [7] * 500

    def set_values() -> None:
        old.values = [1]

    def body():
        for name, stale_call in (("GETALL", lambda: old.values), ("SETALL", set_values)):
            try:
                stale_call()
            except unixipc.ObjectRemovedError as e:
                assert e.errno == errno.EIDRM
                assert str(old_id) in str(e) and "reused" in str(e), str(e)
            else:
                print(f"{name} on stale handle did not raise")
                return 2
        return 0

    status = _run_in_child(body)
    assert os.WIFEXITED(status), f"child died: status {status:#x}"
    assert os.WEXITSTATUS(status) == 0, f"child exit {os.WEXITSTATUS(status)}"
    assert new.values == [7] * 500
