"""Semaphore and shared-memory workloads.

- the acquire+release pair in one process: the per-call cost of a binding;
- ping-pong: two processes hand a token back and forth over two semaphores;
- shm: blocks copied from one process to the other through a segment guarded
  by two semaphores (one says "a block is ready", the other "the segment is
  free"), the classic producer/consumer.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from .harness import Result, time_per_op


def pair_results(count: int = 200_000) -> list[Result]:
    from .. import SemaphoreSet

    results = []
    with SemaphoreSet(create=True, initial=1) as sems:
        sem = sems[0]

        def run(n: int, acquire: Any = sem.acquire, release: Any = sem.release) -> None:
            for _ in range(n):
                acquire(undo=False)
                release(undo=False)

        results.append(Result("sem acquire+release in one process", "unixipc",
                              time_per_op(run, count) * 1e6, "us"))
    try:
        import sysv_ipc
    except ImportError:
        return results
    s = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, mode=0o600, initial_value=1)
    try:
        def run_sysv(n: int, acquire: Any = s.acquire, release: Any = s.release) -> None:
            for _ in range(n):
                acquire()
                release()

        results.append(Result("sem acquire+release in one process", "sysv_ipc",
                              time_per_op(run_sysv, count) * 1e6, "us"))
    finally:
        s.remove()
    return results


def _fork(body: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            body()
            code = 0
        finally:
            os._exit(code)
    return pid


def pingpong_results(count: int = 50_000) -> list[Result]:
    """Round trip of a token over two semaphores (unixipc; sysv_ipc with two
    single semaphores, as it has no sets)."""
    from .. import SemaphoreSet

    results = []
    with SemaphoreSet(count=2, create=True) as sems:
        ping, pong = sems[0], sems[1]

        def child() -> None:
            for _ in range(count + count // 10):
                ping.acquire(undo=False)
                pong.release(undo=False)

        pid = _fork(child)
        for _ in range(count // 10):
            ping.release(undo=False)
            pong.acquire(undo=False)
        t0 = time.perf_counter()
        for _ in range(count):
            ping.release(undo=False)
            pong.acquire(undo=False)
        per = (time.perf_counter() - t0) / count
        os.waitpid(pid, 0)
        results.append(Result("sem ping-pong round trip", "unixipc", per * 1e6, "us"))
    try:
        import sysv_ipc
    except ImportError:
        return results
    a = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, mode=0o600)
    b = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, mode=0o600)
    try:
        def sysv_child() -> None:
            for _ in range(count + count // 10):
                a.acquire()
                b.release()

        pid = _fork(sysv_child)
        for _ in range(count // 10):
            a.release()
            b.acquire()
        t0 = time.perf_counter()
        for _ in range(count):
            a.release()
            b.acquire()
        per = (time.perf_counter() - t0) / count
        os.waitpid(pid, 0)
        results.append(Result("sem ping-pong round trip", "sysv_ipc", per * 1e6, "us"))
    finally:
        a.remove()
        b.remove()
    return results


def shm_results(size: int = 1 << 20, count: int = 500) -> list[Result]:
    """MB/s of copying ``size``-byte blocks parent -> child through a
    segment guarded by two semaphores."""
    from .. import SemaphoreSet, SharedMemory

    src = memoryview(b"x" * size)
    with SemaphoreSet(count=2, create=True) as sems, \
            SharedMemory(size=size, create=True) as shm:
        ready, free = sems[0], sems[1]
        view = shm.attach()

        def child() -> None:
            dst = memoryview(bytearray(size))
            for _ in range(count):
                ready.acquire(undo=False)
                dst[:] = view
                free.release(undo=False)

        pid = _fork(child)
        free.release(undo=False)
        t0 = time.perf_counter()
        for _ in range(count):
            free.acquire(undo=False)
            view[:] = src
            ready.release(undo=False)
        free.acquire(undo=False)
        elapsed = time.perf_counter() - t0
        os.waitpid(pid, 0)
        view.release()
    return [Result(f"shm+sem copy {size} B blocks", "unixipc", count * size / elapsed / 1e6,
                   "MB/s")]
