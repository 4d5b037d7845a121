"""Two-process workloads: round trip and one-way throughput over a transport.

A *transport* is anything that can carry a message of ``size`` bytes from one
process to the other and back: a pipe pair, a message queue, a semaphore pair
around a shared-memory block, a socket channel, or a peer library. Each is
described by a :class:`Transport` whose ``open(size)`` returns a
:class:`Link`: the parent's and the child's :class:`Endpoint` and a cleanup.
The engine forks the child, runs the echo (round trip) or the sink (one-way)
there, and measures in the parent:

- round trip: send ``size`` bytes, the child sends them back; every trip is
  timed, giving the median and the 99th percentile;
- one-way: the parent sends ``count`` messages back to back, the child reads
  them all and answers with one; messages per second and MB/s.

Both ``unixipc bench`` and the scripts under ``bench/`` run these functions.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .._fork import fork_call as _plain_fork_call
from .._timeouts import Deadline
from .harness import Result, latency_stats

__all__ = ["Endpoint", "FdEnd", "Link", "Transport", "round_trip", "one_way", "read_rest",
           "wait_thread_gone", "flush_mp_queue", "pin", "unpin", "fork_child", "fork_call"]

_child_cpu: int | None = None
_all_cpus: set[int] | None = None


def pin(parent_cpu: int, child_cpu: int) -> None:
    """Run this process on `parent_cpu` and every child the workloads fork
    on `child_cpu` from now on (steadier figures than letting the scheduler
    move them; a wake-up across CPUs is what a real pipeline pays)."""
    global _child_cpu, _all_cpus
    if _all_cpus is None:
        _all_cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {parent_cpu})
    _child_cpu = child_cpu


def unpin() -> None:
    """In a forked child: run on every CPU this process had before :func:`pin`
    (for workloads of many processes)."""
    if _all_cpus is not None:
        os.sched_setaffinity(0, _all_cpus)


def pin_off() -> None:
    """Undo :func:`pin`: this process and the children forked from now on
    run on every CPU it had before."""
    global _child_cpu
    unpin()
    _child_cpu = None


def _pin_child() -> None:
    if _child_cpu is not None:
        os.sched_setaffinity(0, {_child_cpu})


def fork_child() -> int:
    """os.fork() for the workloads: the child is pinned as :func:`pin` said."""
    pid = os.fork()
    if pid == 0:
        _pin_child()
    return pid


def fork_call(body: Callable[[], Any]) -> int:
    """:func:`unixipc._fork.fork_call` for the workloads: the child is pinned
    as :func:`pin` said, then runs ``body``."""
    def pinned() -> None:
        _pin_child()
        body()
    return _plain_fork_call(pinned)


class Endpoint(Protocol):
    """One process's side of a link."""

    def send(self, data: bytes) -> None: ...

    def recv(self, size: int) -> bytes:
        """Receive one message of ``size`` bytes (streams read exactly that)."""
        ...


def taker(end: Endpoint, size: int) -> Callable[[], bytes]:
    """A call that receives the next message: the endpoint's own ``take()``
    when it has one (message transports, which need no size), else
    ``recv(size)`` bound once. The workloads' loops call it and a bound
    ``send`` from local names, so no transport pays the harness's attribute
    lookups or an extra Python frame per message."""
    take = getattr(end, "take", None)
    if take is not None:
        return take  # type: ignore[no-any-return]
    return functools.partial(end.recv, size)


def read_rest(read: Callable[[int], bytes], first: bytes, size: int) -> bytes:
    """Complete a stream read that returned ``first``, short of ``size``
    bytes, with further ``read(n)`` calls (stops early at end of file).

    Endpoints make the first read inline and call this only when it came up
    short, so the common path costs every transport the same."""
    parts = [first]
    got = len(first)
    while got < size:
        chunk = read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class FdEnd:
    """An endpoint over two descriptors with raw os.read/os.write: the floor
    any wrapper of pipes or FIFOs is measured against."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.wfd, view):]

    def recv(self, size: int) -> bytes:
        data = os.read(self.rfd, size)
        if len(data) == size or not data:
            return data
        return read_rest(lambda n: os.read(self.rfd, n), data, size)


@dataclass
class Link:
    parent: Endpoint
    child: Endpoint
    #: Called in the parent after the child exited (removes IPC objects).
    close: Callable[[], None]
    #: Called in the child right after fork (e.g. to close the parent's ends).
    in_child: Callable[[], None] = lambda: None
    #: Called in the parent right after fork.
    in_parent: Callable[[], None] = lambda: None
    #: Called in the child after its part, before it exits (e.g. to flush
    #: what a peer library still buffers in a thread).
    child_done: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class Transport:
    """A named way of moving bytes between two processes."""

    name: str
    impl: str  # "unixipc", "os", "C", or the peer library's name
    open: Callable[[int], Link]
    #: Largest message this transport can carry (None: no limit; 0: it
    #: carries no data at all, only a wake-up, and is measured once).
    max_size: int | None = None


def wait_thread_gone(thread: threading.Thread, timeout: float = 5.0) -> bool:
    """Wait until a joined thread has left the kernel (its task is gone from
    ``/proc/self/task``); True when it has, False after ``timeout`` s.

    ``Thread.join`` returns while the thread is still tearing itself down,
    and that teardown may hold an allocator lock: ASan's allocator does not
    lock itself around ``fork``, so a child forked at that moment inherits the
    lock held and deadlocks at its first ``malloc``. Transports whose thread
    ends at ``close`` wait here before the engine forks its next child."""
    tid = thread.native_id
    if tid is None:
        return True
    deadline = Deadline(timeout)
    while os.path.exists(f"/proc/self/task/{tid}"):
        if deadline.expired:
            return False
        time.sleep(0.0005)
    return True


def flush_mp_queue(queue: Any) -> None:
    """Close a multiprocessing.Queue in this process and wait until its
    feeder thread has written what is left and left the kernel (see
    :func:`wait_thread_gone`)."""
    queue.close()
    queue.join_thread()
    feeder = getattr(queue, "_thread", None)
    if feeder is not None:
        wait_thread_gone(feeder)


#: The SIGCHLD disposition each workload child's watch replaced, by pid.
_watched: dict[int, Any] = {}


def _watch(pid: int) -> None:
    """While the workload runs, the child's death (other than a clean exit)
    raises RuntimeError in the parent, even where it is blocked on the child
    in a call with no timeout: SIGCHLD interrupts the call, whose EINTR runs
    the handler. (Ctrl-C kills both processes, and a SIGINT that lands just
    before the parent's call enters the kernel is seen only once the call is
    interrupted: without this, by nothing, when the child is gone.) Ctrl-C
    stays KeyboardInterrupt: a pending SIGINT's handler runs before this one,
    and this one raises nothing while an exception is being handled (the
    parent's clean-up after a KeyboardInterrupt, when the child dies of the
    same Ctrl-C). Called first thing in the workload's ``try``: it raises at
    once if the child is already dead."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_child(signum: int, frame: Any) -> None:
        if sys.exc_info()[0] is not None:
            return  # already failing: the clean-up reaps the child
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is not None and (info.si_code != os.CLD_EXITED or info.si_status != 0):
            raise RuntimeError(f"benchmark child {pid} died (code {info.si_code}, "
                               f"status {info.si_status})")

    _watched[pid] = signal.signal(signal.SIGCHLD, on_child)
    on_child(signal.SIGCHLD, None)  # it may have died before the handler was set


def _unwatch(pid: int) -> None:
    if pid in _watched:
        signal.signal(signal.SIGCHLD, _watched.pop(pid))


def _fork(link: Link, body: Callable[[Endpoint], None]) -> int:
    pid = fork_child()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            link.in_child()
            body(link.child)
            link.child_done()
            code = 0
        finally:
            os._exit(code)
    link.in_parent()
    return pid


def _finish(pid: int, link: Link, failing: bool = False) -> None:
    """Reap the child and close the link; a child that failed is an error
    unless the parent is already failing (Ctrl-C kills both: the parent's
    KeyboardInterrupt must not be replaced by the child's status)."""
    _unwatch(pid)
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        link.close()
    if status != 0 and not failing:
        raise RuntimeError(f"benchmark child failed with status {status}")


def _abort(pid: int, link: Link) -> None:
    """The workload failed in the parent: kill and reap the child, close the link."""
    _unwatch(pid)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _finish(pid, link, failing=True)


def round_trip(transport: Transport, size: int, count: int) -> Result:
    """Median and p99 of ``count`` round trips of ``size`` bytes, in us."""
    link = transport.open(size)
    payload = b"x" * size

    def echo(end: Endpoint) -> None:
        send, take = end.send, taker(end, size)
        for _ in range(count + count // 10):
            send(take())

    pid = _fork(link, echo)
    try:
        _watch(pid)
        send, take = link.parent.send, taker(link.parent, size)
        for _ in range(count // 10):  # warm-up
            send(payload)
            take()
        samples = []
        clock = time.perf_counter
        for _ in range(count):
            t0 = clock()
            send(payload)
            take()
            samples.append(clock() - t0)
    except BaseException:
        _abort(pid, link)
        raise
    _finish(pid, link)
    stats = latency_stats(samples)
    label = f"{transport.name} round trip" + (f" {size} B" if size else "")
    return Result(label, transport.impl,
                  stats["median_us"], "us", {"p99_us": stats["p99_us"]})


def one_way(transport: Transport, size: int, count: int) -> list[Result]:
    """Messages per second and MB/s of ``count`` messages of ``size`` bytes."""
    link = transport.open(size)
    payload = b"y" * size

    def sink(end: Endpoint) -> None:
        take = taker(end, size)
        for _ in range(count):
            take()
        end.send(b"k" * size)

    pid = _fork(link, sink)
    try:
        _watch(pid)
        send = link.parent.send
        t0 = time.perf_counter()
        for _ in range(count):
            send(payload)
        link.parent.recv(size)
        elapsed = time.perf_counter() - t0
    except BaseException:
        _abort(pid, link)
        raise
    _finish(pid, link)
    rate = count / elapsed
    name = f"{transport.name} one-way {size} B"
    if size == 0:  # a token-only transport (semaphores): no bytes moved
        return [Result(f"{transport.name} one-way", transport.impl, rate, "msg/s")]
    return [Result(name, transport.impl, rate, "msg/s"),
            Result(name + " MB/s", transport.impl, rate * size / 1e6, "MB/s")]
