"""Unnamed process-shared POSIX semaphores (Semaphore.in_buffer / .at):
sem_init(pshared=1) inside shared memory, used across forked processes
over an anonymous shared mmap, a System V segment and a POSIX SharedMemory."""

from __future__ import annotations

import gc
import io
import mmap
import os
import pickle
import signal
import time
import warnings
from typing import Any, Callable, Iterator

import pytest

import unixipc
from unixipc import posix
from support import Child, cpu_seconds, wait_blocked


def _anonymous_mmap() -> Iterator[Any]:
    m = mmap.mmap(-1, 4096)
    yield m
    m.close()


def _sysv_segment() -> Iterator[Any]:
    seg = unixipc.SharedMemory(size=4096, create=True)
    view = seg.attach()
    try:
        yield view
    finally:
        view.release()
        seg.detach()
        seg.remove()


def _posix_segment() -> Iterator[Any]:
    shm = posix.SharedMemory.anonymous(4096)
    view = shm.attach()
    try:
        yield view
    finally:
        view.release()
        shm.close()


MEMORIES: dict[str, Callable[[], Iterator[Any]]] = {
    "mmap": _anonymous_mmap, "sysv": _sysv_segment, "posix_shm": _posix_segment}


@pytest.fixture(params=sorted(MEMORIES))
def memory(request: Any) -> Iterator[Any]:
    yield from MEMORIES[request.param]()


def test_in_buffer_initialises_and_at_attaches(memory):
    sem = posix.Semaphore.in_buffer(memory, 64, initial=2)
    other = posix.Semaphore.at(memory, 64)
    try:
        assert sem.name is None and sem.created and not other.created
        assert sem.value == other.value == 2
        other.acquire(block=False)
        assert sem.value == 1
        sem.release()
        assert other.value == 2
        assert "unnamed" in repr(sem) and "offset 64" in repr(sem)
    finally:
        sem.close()
        other.close()
    assert "closed" in repr(sem)


def _acquire_at(memory: Any, offset: int) -> int:
    sem = posix.Semaphore.at(memory, offset)
    sem.acquire(timeout=10)
    value = sem.value
    sem.close()
    return value


def test_child_waits_until_the_parent_releases(memory):
    with posix.Semaphore.in_buffer(memory, 8) as sem:
        child = Child(_acquire_at, memory, 8)
        try:
            wait_blocked(child.pid)
            sem.release()
            assert child.result() == 0
        finally:
            child.close()


def test_parent_wait_ends_when_a_forked_child_releases(memory):
    with posix.Semaphore.in_buffer(memory) as sem:
        # the child inherits the object itself through fork
        child = Child(lambda: (time.sleep(0.1), sem.release()))
        try:
            sem.acquire(timeout=10)
            child.result()
        finally:
            child.close()
        assert sem.value == 0


def test_ping_pong_between_two_processes(memory):
    ping = posix.Semaphore.in_buffer(memory, 0)
    pong = posix.Semaphore.in_buffer(memory, posix.SEM_SIZE)

    def child() -> None:
        for _ in range(200):
            ping.acquire(timeout=10)
            pong.release()

    c = Child(child)
    try:
        for _ in range(200):
            ping.release()
            pong.acquire(timeout=10)
        c.result()
    finally:
        c.close()
        ping.close()
        pong.close()


def test_timeout_without_spinning_and_nonblocking():
    m = mmap.mmap(-1, 4096)
    sem = posix.Semaphore.in_buffer(m)
    try:
        with pytest.raises(BlockingIOError):
            sem.acquire(block=False)
        with pytest.raises(TimeoutError):
            sem.acquire(timeout=0)
        before_cpu, before = cpu_seconds(), time.monotonic()
        with pytest.raises(TimeoutError):
            sem.acquire(timeout=0.3)
        assert time.monotonic() - before >= 0.3
        assert cpu_seconds() - before_cpu < 0.15
    finally:
        sem.close()
        m.close()


def test_signal_during_a_wait_runs_the_handler_and_retries():
    m = mmap.mmap(-1, 4096)
    sem = posix.Semaphore.in_buffer(m)
    seen = []
    old = signal.signal(signal.SIGUSR1, lambda *a: seen.append(1))
    parent = os.getpid()

    def poke_then_release() -> None:
        time.sleep(0.1)
        os.kill(parent, signal.SIGUSR1)
        time.sleep(0.1)
        posix.Semaphore.at(m).release()

    try:
        child = Child(poke_then_release)
        try:
            sem.acquire(timeout=10)
            child.result()
        finally:
            child.close()
    finally:
        signal.signal(signal.SIGUSR1, old)
        sem.close()
        m.close()
    assert seen == [1]


def test_acquire_async_ends_when_a_child_releases():
    import asyncio

    m = mmap.mmap(-1, 4096)
    sem = posix.Semaphore.in_buffer(m)
    try:
        child = Child(lambda: (time.sleep(0.1), posix.Semaphore.at(m).release()))
        try:
            asyncio.run(asyncio.wait_for(sem.acquire_async(timeout=10), 10))
            child.result()
        finally:
            child.close()
    finally:
        sem.close()
        m.close()


def test_the_buffer_stays_exported_until_close():
    m = mmap.mmap(-1, 4096)
    sem = posix.Semaphore.in_buffer(m, initial=1)
    with pytest.raises(BufferError):
        m.close()  # the semaphore's memory cannot go away under it
    sem.close()
    m.close()
    seg = unixipc.SharedMemory(size=4096, create=True)
    try:
        view = seg.attach()
        sem = posix.Semaphore.in_buffer(view)
        with pytest.raises(BufferError):
            view.release()  # the semaphore holds the view, which holds the mapping
        sem.close()
        view.release()
        seg.detach()
    finally:
        seg.remove()


def test_collected_unclosed_warns_and_releases_the_buffer():
    m = mmap.mmap(-1, 4096)
    sem = posix.Semaphore.in_buffer(m)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del sem
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    m.close()  # no export left


def test_close_does_not_destroy_what_others_use():
    m = mmap.mmap(-1, 4096)
    first = posix.Semaphore.in_buffer(m, initial=3)
    second = posix.Semaphore.at(m)
    first.close()
    with pytest.raises(ValueError, match="closed"):
        first.acquire()
    second.acquire(block=False)
    assert second.value == 2
    second.close()
    m.close()


def test_unlink_and_pickling_are_refused_with_why():
    m = mmap.mmap(-1, 4096)
    sem = posix.Semaphore.in_buffer(m)
    try:
        with pytest.raises(io.UnsupportedOperation, match="no name"):
            sem.unlink()
        with pytest.raises(TypeError, match="Semaphore.at"):
            pickle.dumps(sem)
        with sem:  # only closes
            pass
        assert sem.closed
    finally:
        sem.close()
        m.close()


def test_bad_buffers_and_offsets_before_any_call():
    m = mmap.mmap(-1, 4096)
    try:
        for call, error, match in [
            (lambda: posix.Semaphore.in_buffer(bytes(64)), ValueError, "read-only"),
            (lambda: posix.Semaphore.in_buffer(memoryview(m).toreadonly()), ValueError,
             "read-only"),
            (lambda: posix.Semaphore.in_buffer(m, 1), ValueError, "aligned"),
            (lambda: posix.Semaphore.in_buffer(m, 4096), ValueError, "no room"),
            (lambda: posix.Semaphore.in_buffer(m, 4096 - posix.SEM_SIZE + posix.SEM_ALIGN),
             ValueError, "no room"),
            (lambda: posix.Semaphore.in_buffer(m, -8), ValueError, "offset"),
            (lambda: posix.Semaphore.in_buffer(m, 2**64), ValueError, "offset"),
            (lambda: posix.Semaphore.in_buffer(m, initial=posix.SEM_VALUE_MAX + 1),
             ValueError, "SEM_VALUE_MAX"),
            (lambda: posix.Semaphore.in_buffer(m, initial=-1), ValueError, "initial"),
            (lambda: posix.Semaphore.in_buffer(m, 8.0), TypeError, "offset"),
            (lambda: posix.Semaphore.in_buffer("text"), TypeError, "bytes-like"),
            (lambda: posix.Semaphore.at(memoryview(bytearray(64))[::2]), ValueError,
             "contiguous"),
        ]:
            with pytest.raises(error, match=match):
                call()
        m.close()  # nothing kept the buffer exported
    finally:
        if not m.closed:
            m.close()


def test_largest_initial_value():
    m = mmap.mmap(-1, 4096)
    sem = posix.Semaphore.in_buffer(m, initial=posix.SEM_VALUE_MAX)
    try:
        assert sem.value == posix.SEM_VALUE_MAX
        with pytest.raises(OSError):
            sem.release()  # EOVERFLOW
    finally:
        sem.close()
        m.close()


def test_a_temporary_object_stays_usable_for_its_call(make_psem):
    """acquire/release of an open semaphore are the handle's C methods (the
    hot path): an object collected during its own call must not close the
    handle under it."""
    sem = make_psem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        posix.Semaphore(sem.name).release()
        posix.Semaphore(sem.name).acquire(timeout=1)
        m = mmap.mmap(-1, 4096)
        posix.Semaphore.in_buffer(m).release()
        posix.Semaphore.at(m).acquire(block=False)
        gc.collect()
    m.close()  # the collected objects let go of the buffer
    assert sem.value == 0
