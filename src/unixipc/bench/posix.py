"""POSIX message queue and named semaphore workloads, the same for unixipc,
posix_ipc and (in C) bench/c/posix_bench.c, with unixipc's System V queue and
semaphore beside them.

- mq round trip: the parent sends ``size`` bytes on one queue, the child
  echoes them on another; best of 5 blocks, us per trip.
- mq one-way: the parent sends ``count`` messages, the child receives them
  all and acknowledges once; messages per second.
- mq in-process pair: ``send`` then ``receive`` of 64 bytes in one process,
  the per-call cost of a binding; best of 5, us per pair.
- psem pair: ``acquire`` then ``release`` of a named semaphore of value 1 in
  one process (no system call: glibc's semaphores are atomics in shared
  memory until someone has to wait); best of 5, us per pair.
- psem ping-pong: two processes hand a token over two named semaphores;
  best of 5 blocks, us per round trip.

Queues have the namespace's default attributes (msg_default, msgsize_default:
10 messages of 8 KiB unless changed), as a user who gives none gets, and
every implementation's receive takes a buffer of the queue's message size.
Each implementation's calls are bound to local names first, so no one pays
the harness's lookups. The children are forked with
:func:`unixipc.bench.twoproc.fork_call`: on the CPU :func:`~unixipc.bench.twoproc.pin`
gave them, as the C baseline pins its own.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from .harness import Result
from .twoproc import fork_call

__all__ = ["QueueImpl", "SemImpl", "unixipc_queue", "posix_ipc_queue", "unixipc_sem",
           "posix_ipc_sem", "sysv_sem", "mq_round_trip", "mq_one_way", "mq_pair",
           "sem_pair", "sem_pingpong", "sysv_queue_results", "python_pair_floor"]

Calls = tuple[Callable[..., Any], Callable[..., Any]]


@dataclass(frozen=True)
class QueueImpl:
    """``make(name)`` opens a new queue by that name and returns (send,
    receive, close-and-unlink); ``receive()`` returns (data, priority)."""

    name: str
    make: Callable[[str], tuple[Callable[..., Any], Callable[..., Any], Callable[[], None]]]


@dataclass(frozen=True)
class SemImpl:
    """``make(initial)`` makes a new semaphore and returns (acquire,
    release, close-and-remove)."""

    name: str
    make: Callable[[int], tuple[Callable[[], Any], Callable[[], Any], Callable[[], None]]]


def _name(tag: str) -> str:
    return f"/unixipc-bench-{tag}-{os.getpid()}-{time.monotonic_ns()}"


def unixipc_queue() -> QueueImpl:
    from ..posix import MessageQueue

    def make(name: str) -> tuple[Callable[..., Any], Callable[..., Any], Callable[[], None]]:
        q = MessageQueue(name, exclusive=True)

        def close() -> None:
            q.unlink()
            q.close()
        return q.send, q.receive, close

    return QueueImpl("unixipc", make)


def posix_ipc_queue() -> QueueImpl:
    """ImportError when posix_ipc is not installed."""
    import posix_ipc

    def make(name: str) -> tuple[Callable[..., Any], Callable[..., Any], Callable[[], None]]:
        q = posix_ipc.MessageQueue(name, posix_ipc.O_CREX)

        def close() -> None:
            q.unlink()
            q.close()
        return q.send, q.receive, close

    return QueueImpl("posix_ipc", make)


def unixipc_sem() -> SemImpl:
    from ..posix import Semaphore

    def make(initial: int) -> tuple[Callable[[], Any], Callable[[], Any], Callable[[], None]]:
        s = Semaphore(_name("sem"), exclusive=True, initial=initial)
        s.unlink()  # the handle keeps it
        return s.acquire, s.release, s.close

    return SemImpl("unixipc", make)


def posix_ipc_sem() -> SemImpl:
    import posix_ipc

    def make(initial: int) -> tuple[Callable[[], Any], Callable[[], Any], Callable[[], None]]:
        s = posix_ipc.Semaphore(_name("sem"), posix_ipc.O_CREX, initial_value=initial)
        s.unlink()
        return s.acquire, s.release, s.close

    return SemImpl("posix_ipc", make)


def sysv_sem() -> SemImpl:
    """unixipc's System V semaphore, without undo (as bench/sem.py)."""
    from functools import partial

    from ..sem import SemaphoreSet

    def make(initial: int) -> tuple[Callable[[], Any], Callable[[], Any], Callable[[], None]]:
        sems = SemaphoreSet(create=True, initial=initial)
        s = sems[0]
        return partial(s.acquire, undo=False), partial(s.release, undo=False), sems.remove

    return SemImpl("unixipc System V", make)


def _reap(pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"benchmark child failed with status {status}")


def _best_blocks(count: int, trips: Callable[[int], None]) -> float:
    """Best of 5 timed blocks of count // 5 trips after a warm-up of
    count // 10 (seconds per trip): the C baseline's shape."""
    trips(count // 10)
    best = float("inf")
    block = max(1, count // 5)
    for _ in range(5):
        t0 = time.perf_counter()
        trips(block)
        best = min(best, (time.perf_counter() - t0) / block)
    return best


def mq_round_trip(impl: QueueImpl, size: int, count: int) -> Result:
    send_a, receive_a, close_a = impl.make(_name("a"))
    send_b, receive_b, close_b = impl.make(_name("b"))
    total = count // 10 + 5 * max(1, count // 5)
    payload = b"x" * size

    def echo() -> None:
        for _ in range(total):
            send_b(receive_a()[0])

    def trips(n: int) -> None:
        for _ in range(n):
            send_a(payload)
            receive_b()

    try:
        pid = fork_call(echo)
        per = _best_blocks(count, trips)
        _reap(pid)
    finally:
        close_a()
        close_b()
    return Result(f"mq round trip {size} B", impl.name, per * 1e6, "us")


def mq_one_way(impl: QueueImpl, size: int, count: int) -> Result:
    send_a, receive_a, close_a = impl.make(_name("a"))
    send_b, receive_b, close_b = impl.make(_name("b"))
    payload = b"y" * size

    def sink() -> None:
        for _ in range(count):
            receive_a()
        send_b(b"k")

    try:
        pid = fork_call(sink)
        t0 = time.perf_counter()
        for _ in range(count):
            send_a(payload)
        receive_b()
        elapsed = time.perf_counter() - t0
        _reap(pid)
    finally:
        close_a()
        close_b()
    return Result(f"mq one-way {size} B", impl.name, count / elapsed, "msg/s")


def mq_pair(impl: QueueImpl, count: int) -> Result:
    send, receive, close = impl.make(_name("p"))
    payload = b"p" * 64
    best = float("inf")
    try:
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(count):
                send(payload)
                receive()
            best = min(best, (time.perf_counter() - t0) / count)
    finally:
        close()
    return Result("mq in-process pair 64 B", impl.name, best * 1e6, "us")


def sem_pair(impl: SemImpl, count: int) -> Result:
    acquire, release, close = impl.make(1)
    best = float("inf")
    try:
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(count):
                acquire()
                release()
            best = min(best, (time.perf_counter() - t0) / count)
    finally:
        close()
    return Result("psem acquire+release in one process", impl.name, best * 1e6, "us")


def sem_pingpong(impl: SemImpl, count: int) -> Result:
    ping_wait, ping_post, close_ping = impl.make(0)
    pong_wait, pong_post, close_pong = impl.make(0)
    total = count // 10 + 5 * max(1, count // 5)

    def child() -> None:
        for _ in range(total):
            ping_wait()
            pong_post()

    def trips(n: int) -> None:
        for _ in range(n):
            ping_post()
            pong_wait()

    try:
        pid = fork_call(child)
        per = _best_blocks(count, trips)
        _reap(pid)
    finally:
        close_ping()
        close_pong()
    return Result("psem ping-pong round trip", impl.name, per * 1e6, "us")


def sysv_queue_results(trips: int, msgs: int, pairs: int) -> list[Result]:
    """unixipc's System V queue on the same workloads (bench/msg.py's code),
    named as the POSIX rows so they land in the same table."""
    from . import msg

    impl = msg.unixipc_impl()
    found = [msg.round_trip(impl, 64, trips), msg.one_way(impl, 64, msgs),
             msg.one_way(impl, 4096, msgs // 4), msg.pair(impl, pairs)]
    return [Result(r.workload.replace("msg ", "mq "), "unixipc System V", r.value, r.unit)
            for r in found]


def python_pair_floor(count: int) -> Result:
    """A loop calling two do-nothing C functions per iteration (``len``):
    what no Python binding's pair of calls can beat on this machine; the
    semaphore pair's C cost is below it."""
    f = len
    x = b"x"
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(count):
            f(x)
            f(x)
        best = min(best, (time.perf_counter() - t0) / count)
    return Result("psem acquire+release in one process", "python floor (2 C calls)",
                  best * 1e6, "us")
