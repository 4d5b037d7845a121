"""The blocking-call helper: deadlines, EINTR retry, signal handlers."""

from __future__ import annotations

import resource
import signal
import threading
import time

import pytest

from support import cpu_seconds
from unixipc import _core


def test_timeout_is_kept_without_burning_cpu():
    def switches() -> int:
        return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw

    cpu0, t0, sw0 = cpu_seconds(), time.monotonic(), switches()
    with pytest.raises(TimeoutError) as info:
        _core._pause(0.3)
    elapsed, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
    assert 0.29 <= elapsed < 1.5
    assert cpu < 0.05  # no spinning
    assert switches() - sw0 <= 4  # one sleep until the timer, no polling
    assert info.value.errno == 110


def test_signals_are_retried_and_do_not_stretch_the_timeout():
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            _core._pause(0.4)
        elapsed = time.monotonic() - t0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(hits) >= 5  # the handler ran, the wait went on
    assert 0.39 <= elapsed < 1.5


def test_handler_exception_ends_the_wait():
    def boom(*a):
        raise KeyError("from handler")

    old = signal.signal(signal.SIGALRM, boom)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(KeyError):
            _core._pause(5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_timeouts_in_threads_are_independent():
    results: dict[float, float] = {}

    def wait(t: float) -> None:
        t0 = time.monotonic()
        try:
            _core._pause(t)
        except TimeoutError:
            results[t] = time.monotonic() - t0

    threads = [threading.Thread(target=wait, args=(t,)) for t in (0.1, 0.3, 0.5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(5)
    assert sorted(results) == [0.1, 0.3, 0.5]
    for t, elapsed in results.items():
        assert t - 0.01 <= elapsed < t + 0.8


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (float("nan"), ValueError),
                                      ("1", TypeError), (True, TypeError)])
def test_bad_timeouts(bad, exc):
    with pytest.raises(exc):
        _core._pause(bad)


def test_zero_timeout_returns_at_once():
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        _core._pause(0)
    assert time.monotonic() - t0 < 0.2


def test_timeout_works_in_a_forked_child_after_the_parent_used_one():
    from support import Child

    with pytest.raises(TimeoutError):
        _core._pause(0.01)  # the parent's thread now has a timer

    def in_child() -> float:
        t0 = time.monotonic()
        try:
            _core._pause(0.2)
        except TimeoutError:
            return time.monotonic() - t0
        return -1.0

    elapsed = Child(in_child).result(timeout=10)
    assert 0.19 <= elapsed < 1.5
