"""Semaphore sets against the real kernel, between real processes."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import unixipc
from support import NOBODY, Child, wait_blocked, wait_until


def test_create_with_initial_values_and_stat(make_set):
    sems = make_set(count=3, initial=[1, 0, 2])
    assert len(sems) == 3 and sems.values == [1, 0, 2]
    st = sems.stat()
    assert st.count == 3 and st.perm.mode == 0o600 and st.op_time > 0
    assert [sems[i].value for i in range(3)] == [1, 0, 2]
    assert sems[-1].value == 2
    with pytest.raises(IndexError):
        sems[3]


def test_initial_int_applies_to_all(make_set):
    assert make_set(count=4, initial=7).values == [7, 7, 7, 7]


def test_atomic_op_all_or_nothing(make_set):
    sems = make_set(count=3, initial=[1, 0, 2])
    with pytest.raises(BlockingIOError) as info:
        sems.op((0, -1), (1, -1), block=False)
    assert info.value.errno == errno.EAGAIN
    assert sems.values == [1, 0, 2]


def test_blocked_op_completes_when_parent_raises(make_set):
    sems = make_set(count=3, initial=[1, 0, 2])
    child = Child(lambda: sems.op((0, -1), (1, -1), timeout=20))
    wait_blocked(child.pid)
    assert sems[1].ncount == 1
    assert sems.values == [1, 0, 2]  # nothing taken while waiting
    sems[1].release(undo=False)
    child.result(timeout=10)
    assert sems.values == [0, 0, 2]
    assert sems[0].last_pid == child.pid


def test_ncount_and_zcount_seen_while_children_wait(make_set):
    sems = make_set(count=2, initial=[0, 1])
    waiters = [Child(lambda: sems[0].acquire(timeout=20)) for _ in range(2)]
    zero = Child(lambda: sems[1].wait_zero(timeout=20))
    wait_until(lambda: sems[0].ncount == 2 and sems[1].zcount == 1, timeout=10)
    sems[1].acquire(undo=False)
    zero.result(timeout=10)
    sems[0].release(2, undo=False)
    for w in waiters:
        w.result(timeout=10)
    assert (sems[0].ncount, sems[1].zcount) == (0, 0)


def test_last_pid_is_last_operator(make_set):
    sems = make_set(initial=1)
    sems[0].acquire()
    assert sems[0].last_pid == os.getpid()
    child = Child(lambda: sems[0].release(undo=False))
    child.result(timeout=10)
    assert sems[0].last_pid == child.pid


def test_delta_zero_in_op_waits_for_zero(make_set):
    sems = make_set(count=2, initial=[1, 5])
    with pytest.raises(BlockingIOError):
        sems.op((0, 0), block=False)
    sems.op((1, -5), (0, -1))
    sems.op((0, 0), (1, 0))


def test_per_op_flags(make_set):
    sems = make_set(count=2, initial=[0, 3])
    with pytest.raises(BlockingIOError):
        sems.op((1, -1), (0, -1, unixipc.IPC_NOWAIT))
    assert sems.values == [0, 3]
    sems.op((1, -1, unixipc.SEM_UNDO))
    assert sems.values == [0, 2]


def _acquire_then_die(sems, undo):
    sems[0].acquire(undo=undo)
    os.kill(os.getpid(), signal.SIGKILL)


def test_sem_undo_gives_value_back_when_killed(make_set):
    sems = make_set(initial=1)
    child = Child(_acquire_then_die, sems, True)
    child.wait(timeout=10)
    assert sems[0].value == 1


def test_without_undo_value_stays_taken_and_waiter_times_out(make_set):
    sems = make_set(initial=1)
    child = Child(_acquire_then_die, sems, False)
    child.wait(timeout=10)
    assert sems[0].value == 0
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        sems[0].acquire(timeout=0.2)
    assert time.monotonic() - t0 >= 0.19


def test_removal_wakes_blocked_child(make_set):
    sems = make_set(initial=0)
    child = Child(lambda: sems[0].acquire(timeout=20))
    wait_blocked(child.pid)
    sems.remove()
    with pytest.raises(unixipc.ObjectRemovedError):
        child.result(timeout=10)


def test_context_manager_acquires_and_releases(make_set):
    sems = make_set(initial=1)
    with sems[0]:
        assert sems[0].value == 0
    assert sems[0].value == 1


@pytest.mark.parametrize("value", [32768, -1])
def test_value_out_of_range(make_set, value):
    sems = make_set(initial=1)
    with pytest.raises(ValueError):
        sems[0].value = value
    with pytest.raises(ValueError):
        sems.values = [value]
    assert sems.values == [1]


def test_bad_arguments_fail_before_any_call(make_set):
    sems = make_set(count=2, initial=[1, 1])
    with pytest.raises(ValueError):
        sems.op((2, -1))               # index out of range
    with pytest.raises(ValueError):
        sems.op((0, 40000))            # delta beyond a short
    with pytest.raises(TypeError):
        sems.op([0, -1])               # not a tuple
    with pytest.raises(ValueError):
        sems.op()
    with pytest.raises(ValueError):
        sems.op((0, -1, 0o777777))
    limit = unixipc.semaphore_limits().max_ops_per_call
    with pytest.raises(ValueError, match="SEMOPM"):
        sems.op(*[(0, 0)] * (limit + 1))
    with pytest.raises(TypeError):
        sems[0].acquire("1")
    with pytest.raises(ValueError):
        sems[0].acquire(0)
    assert sems.values == [1, 1]


@pytest.mark.parametrize("count", [0, -1])
def test_bad_count(count):
    with pytest.raises(ValueError):
        unixipc.SemaphoreSet(count=count, create=True)


def test_count_larger_than_existing_set(make_set, tmp_path):
    key = unixipc.ftok(tmp_path, 4)
    make_set(key, count=2)
    with pytest.raises(ValueError):
        unixipc.SemaphoreSet(key, count=3)
    assert len(unixipc.SemaphoreSet(key, count=1)) == 2


def test_opener_waits_for_creator_initialisation(make_set, tmp_path):
    key = unixipc.ftok(tmp_path, 8)
    sems = make_set(key, count=2, initial=[3, 4], exclusive=True)
    other = unixipc.SemaphoreSet(key, count=2, create=True, initial=[9, 9])
    assert not other.created and other.values == [3, 4]


def test_permissions_as_another_user(make_set):
    sems = make_set(initial=1, mode=0o600)

    def as_nobody():
        out = {}
        opened = unixipc.SemaphoreSet.from_id(sems.id)  # asks for no access
        try:
            opened.values
        except PermissionError as exc:
            out["open"] = exc.errno
        try:
            sems[0].acquire(block=False)
        except PermissionError as exc:
            out["use"] = exc.errno
        return out

    assert Child(as_nobody, uid=NOBODY).result(timeout=10) == {
        "open": errno.EACCES, "use": errno.EACCES}


def test_listing_agrees_with_ipcs(make_set, ipc_tracker):
    mine = make_set(count=3)
    other = ipc_tracker.ipcmk("-S", "2")
    listed = {s.id: s for s in unixipc.semaphore_sets()}
    out = subprocess.run(["ipcs", "-s"], capture_output=True, text=True, check=True,
                         timeout=10).stdout
    rows = {int(l.split()[1]): l.split() for l in out.splitlines() if l.startswith("0x")}
    assert set(rows) == set(listed) and {mine.id, other} <= set(listed)
    for ident, row in rows.items():
        assert listed[ident].count == int(row[4])
        assert f"0x{listed[ident].perm.key & 0xffffffff:08x}" == row[0]
    assert unixipc.SemaphoreSet.from_id(other).values == [0, 0]


# ---- gaps closed: SEM_UNDO rules, kernel errors, GIL, lifecycle ---------------

def test_undo_is_not_inherited_by_fork(make_set):
    sems = make_set(initial=2)
    sems[0].acquire()                       # undo: the adjustment is this process's
    Child(lambda: None).result(timeout=10)  # the child exits with no adjustment
    assert sems[0].value == 1               # so nothing was given back
    sems[0].release()                       # cancels our own adjustment


def test_child_undo_applies_at_its_exit_not_the_parents(make_set):
    sems = make_set(initial=1)
    Child(lambda: sems[0].release()).result(timeout=10)  # +1 with undo in the child
    assert sems[0].value == 1                            # undone when it exited


def test_undo_is_not_applied_at_thread_exit(make_set):
    import threading

    sems = make_set(initial=1)

    def in_a_thread_then_exit_process():
        t = threading.Thread(target=sems[0].acquire)   # undo=True by default
        t.start()
        t.join(10)
        seen = sems[0].value      # the thread ended: its adjustment still stands
        os.write(w, bytes([seen]))
        os.read(r2, 1)            # hold the process until the parent has looked

    r, w = os.pipe()
    r2, w2 = os.pipe()
    child = Child(in_a_thread_then_exit_process)
    try:
        assert os.read(r, 1) == b"\x00"
        assert sems[0].value == 0
    finally:
        os.write(w2, b"x")
        child.result(timeout=10)
        for fd in (r, w, r2, w2):
            os.close(fd)
    assert sems[0].value == 1     # undone when the process exited


def test_undo_survives_exec(make_set):
    sems = make_set(initial=1)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(w)
            sems[0].acquire()     # undo=True
            os.dup2(r, 0)         # the exec'd shell waits for a line on the pipe
            os.execv("/bin/sh", ["sh", "-c", "read line"])
        finally:
            os._exit(1)
    os.close(r)
    try:
        wait_until(lambda: Path(f"/proc/{pid}/comm").read_text().strip() == "sh", timeout=10)
        wait_blocked(pid)
        assert sems[0].value == 0  # still taken after exec
    finally:
        os.close(w)                # EOF: the shell exits
        done, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1  # read saw EOF
    assert sems[0].value == 1      # given back when the exec'd program exited


def test_kernel_erange_is_an_oserror_with_errno(make_set):
    sems = make_set(count=2, initial=[unixipc.SEMVMX, 0])
    with pytest.raises(OSError) as info:
        sems.op((1, 1), (0, 1))           # semaphore 0 would exceed SEMVMX
    assert info.value.errno == errno.ERANGE
    assert sems.values == [unixipc.SEMVMX, 0]  # all or none


def test_undo_adjustment_out_of_range_is_erange(make_set):
    sems = make_set(initial=0)
    sems[0].release(unixipc.SEMVMX, undo=True)   # semadj -32767
    sems.op((0, -unixipc.SEMVMX))                # no undo: semadj stays
    sems[0].release(1, undo=True)                # semadj -32768, the floor
    sems.op((0, -1))
    with pytest.raises(OSError) as info:
        sems[0].release(1, undo=True)            # semadj -32769
    assert info.value.errno == errno.ERANGE
    assert sems.values == [0]


def test_exactly_semopm_operations_fit(make_set):
    limit = unixipc.semaphore_limits().max_ops_per_call
    sems = make_set(count=1, initial=limit)
    sems.op(*[(0, -1)] * limit, block=False)
    assert sems.values == [0]


def test_gil_released_while_blocked(make_set):
    import threading

    sems = make_set(initial=0)
    done = []
    t = threading.Thread(target=lambda: done.append(sems[0].acquire(undo=False, timeout=10)))
    t.start()
    # Python code keeps running in this thread while the other is in semtimedop.
    spins = 0
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        spins += 1
    wait_until(lambda: sems[0].ncount == 1, timeout=10)
    sems[0].release(undo=False)
    t.join(10)
    assert done == [None] and spins > 1000


def test_signals_during_untimed_wait_are_retried(make_set):
    sems = make_set(initial=0)
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
    try:
        child = Child(lambda: (time.sleep(0.4), sems[0].release(undo=False)))
        sems[0].acquire(undo=False)   # no timeout: EINTR retried until released
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    child.result(timeout=10)
    assert len(hits) >= 5 and sems[0].value == 0


def test_exclusive_and_missing_key(make_set, tmp_path):
    key = unixipc.ftok(tmp_path, 9)
    with pytest.raises(FileNotFoundError):
        unixipc.SemaphoreSet(key, count=1)
    make_set(key, count=1, exclusive=True)
    with pytest.raises(FileExistsError):
        unixipc.SemaphoreSet(key, count=1, create=True, exclusive=True)
    assert not unixipc.SemaphoreSet(key, count=1, create=True).created


def test_private_sets_are_distinct_and_values_settable(make_set):
    a, b = make_set(count=2), make_set(count=2)
    assert a.id != b.id and a.key == b.key == 0
    a.values = [5, unixipc.SEMVMX]
    b[1].value = 3
    assert a.values == [5, unixipc.SEMVMX] and b.values == [0, 3]


def test_owner_set_changes_mode_and_stat_fields(make_set):
    sems = make_set(count=2)
    before = sems.stat()
    sems.set(mode=0o640)
    st = sems.stat()
    assert st.perm.mode == 0o640 and st.perm.uid == os.getuid() == st.perm.cuid
    assert st.perm.gid == os.getgid() == st.perm.cgid and st.id == sems.id
    assert st.change_time >= before.change_time and st.op_time == 0 and st.count == 2
    sems[0].release(undo=False)
    assert sems.stat().op_time > 0


def test_undo_applies_when_another_program_exits(make_set):
    """SEM_UNDO is the kernel's, whatever program made the call."""
    sems = make_set(initial=1)
    code = ("import os, unixipc; s = unixipc.SemaphoreSet.from_id(%d); "
            "s[0].acquire(); assert s[0].value == 0; os._exit(0)" % sems.id)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    assert sems[0].value == 1


def test_racing_creators_never_see_a_half_initialised_set(tmp_path, ipc_tracker):
    key = unixipc.ftok(tmp_path, 11)
    go_r, go_w = os.pipe()

    def racer():
        os.read(go_r, 1)                      # all start together
        sems = unixipc.SemaphoreSet(key, count=3, create=True, initial=[3, 1, 4])
        return sems.id, sems.created, sems.values

    racers = [Child(racer) for _ in range(6)]
    try:
        os.write(go_w, b"x" * len(racers))
        outcomes = [r.result(timeout=20) for r in racers]
    finally:
        for r in racers:
            r.close()
        os.close(go_r)
        os.close(go_w)
    ids = {ident for ident, _, _ in outcomes}
    for ident in ids:
        ipc_tracker.track("sem", ident)
    assert len(ids) == 1
    assert sum(created for _, created, _ in outcomes) == 1
    assert all(values == [3, 1, 4] for _, _, values in outcomes)


def test_context_manager_undo_gives_back_on_sigkill(make_set):
    sems = make_set(initial=1)

    def hold_and_die():
        with sems[0]:
            os.kill(os.getpid(), signal.SIGKILL)

    Child(hold_and_die).wait(timeout=10)
    assert sems[0].value == 1


@pytest.mark.parametrize("initial", [32768, -1, [1, 40000]])
def test_initial_out_of_range_creates_nothing(initial):
    before = unixipc.semaphore_sets()
    with pytest.raises(ValueError):
        unixipc.SemaphoreSet(count=2, create=True, initial=initial)
    assert unixipc.semaphore_sets() == before


def test_count_above_semmsl_is_the_kernels_einval():
    limit = unixipc.semaphore_limits().max_per_set
    with pytest.raises(OSError) as info:
        unixipc.SemaphoreSet(count=limit + 1, create=True)
    assert info.value.errno == errno.EINVAL


@pytest.mark.parametrize("call", ["acquire", "wait_zero", "op"])
def test_timeout_zero_is_one_attempt_and_bad_timeouts(make_set, call):
    sems = make_set(count=1, initial=0 if call != "wait_zero" else 1)
    fn = {"acquire": lambda **kw: sems[0].acquire(undo=False, **kw),
          "wait_zero": lambda **kw: sems[0].wait_zero(**kw),
          "op": lambda **kw: sems.op((0, -1), **kw)}[call]
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        fn(timeout=0)
    assert time.monotonic() - t0 < 0.5
    for bad in (-1, float("nan")):
        with pytest.raises(ValueError):
            fn(timeout=bad)
    with pytest.raises(TypeError):
        fn(timeout="1")
    sems.values = [1 if call != "wait_zero" else 0]
    fn(timeout=0)                          # succeeds at once when it can
    assert sems.values == [0]


def test_signal_handler_exception_ends_the_wait(make_set):
    sems = make_set(initial=0)

    def boom(*args):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    try:
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            sems[0].acquire(timeout=10)
        assert time.monotonic() - t0 < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert sems[0].value == 0 and sems[0].ncount == 0


def test_usage_matches_ipcs_u(make_set):
    """semaphore_usage() is SEM_INFO: sets and semaphores, as ipcs -u."""
    from support import ipcs_u

    before = unixipc.semaphore_usage()
    make_set(count=3)
    make_set(count=2)
    used = unixipc.semaphore_usage()
    theirs = ipcs_u()
    assert (used.sets, used.semaphores) == (theirs["used arrays"][0],
                                            theirs["allocated semaphores"][0])
    assert (used.sets, used.semaphores) == (before.sets + 2, before.semaphores + 5)
