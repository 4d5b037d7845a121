"""Named POSIX semaphores between real processes: waits, signals, crashes,
permissions (pickling into children: tests/contracts/test_pickling.py)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from unixipc import posix
from support import NOBODY, Child, cpu_seconds, posix_name, wait_blocked


def _take_and_report(name: str) -> int:
    with posix.Semaphore(name) as sem:
        sem.acquire(timeout=10)
        return sem.value


def test_child_waits_until_the_parent_releases(make_psem):
    sem = make_psem()
    child = Child(_take_and_report, sem.name)
    try:
        wait_blocked(child.pid)
        sem.release()
        assert child.result() == 0
    finally:
        child.close()


def _release_after_wait(name: str) -> None:
    with posix.Semaphore(name) as sem:
        sem.release()


def test_parent_wait_ends_when_a_child_releases(make_psem):
    sem = make_psem()
    child = Child(lambda: (time.sleep(0.1), _release_after_wait(sem.name)))
    try:
        sem.acquire(timeout=10)
        child.result()
    finally:
        child.close()
    assert sem.value == 0


def test_timeout_raises_without_spinning(make_psem):
    sem = make_psem()
    before_cpu, before = cpu_seconds(), time.monotonic()
    with pytest.raises(TimeoutError):
        sem.acquire(timeout=0.3)
    assert time.monotonic() - before >= 0.3
    assert cpu_seconds() - before_cpu < 0.15


def test_signal_during_a_wait_runs_the_handler_and_retries(make_psem):
    sem = make_psem()
    seen = []
    old = signal.signal(signal.SIGUSR1, lambda *a: seen.append(1))
    try:
        parent = os.getpid()

        def poke_then_release() -> None:
            time.sleep(0.1)
            os.kill(parent, signal.SIGUSR1)
            time.sleep(0.1)
            _release_after_wait(sem.name)

        child = Child(poke_then_release)
        try:
            sem.acquire(timeout=10)
            child.result()
        finally:
            child.close()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert seen == [1]


def test_signal_handler_exception_ends_the_wait(make_psem):
    sem = make_psem()

    class Stop(Exception):
        pass

    def handler(*a):
        raise Stop

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(Stop):
            sem.acquire(timeout=10)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert sem.value == 0


def _hold_forever(name: str) -> None:
    sem = posix.Semaphore(name)
    sem.acquire()
    time.sleep(60)


def test_a_killed_holder_leaves_it_taken_no_undo(make_psem):
    sem = make_psem(initial=1)
    child = Child(_hold_forever, sem.name)
    try:
        deadline = time.monotonic() + 10
        while sem.value != 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        child.kill()
        child.wait()
    finally:
        child.close()
    assert sem.value == 0
    with pytest.raises(BlockingIOError):
        sem.acquire(block=False)


def _open_as_nobody(name: str) -> str:
    try:
        posix.Semaphore(name)
    except PermissionError as exc:
        return str(exc.filename)
    return "opened"


def test_permission_error_names_it(make_psem):
    sem = make_psem()
    child = Child(_open_as_nobody, sem.name, uid=NOBODY)
    try:
        assert child.result() == sem.name
    finally:
        child.close()


def test_a_closed_semaphore_does_not_pickle(make_psem):
    import pickle

    sem = make_psem()
    sem.close()
    with pytest.raises(ValueError):
        pickle.dumps(sem)


def _race_create(name: str) -> bool:
    try:
        s = posix.Semaphore(name, exclusive=True, initial=1)
    except FileExistsError:
        return False
    s.close()
    return True


def test_exclusive_creators_race_one_wins():
    name = posix_name()
    children = [Child(_race_create, name) for _ in range(4)]
    try:
        wins = [c.result() for c in children]
    finally:
        for c in children:
            c.close()
        with posix.Semaphore(name) as sem:
            sem.unlink()
    assert wins.count(True) == 1
