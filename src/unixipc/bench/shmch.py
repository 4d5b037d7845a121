"""The shared-memory channel and the queues, and their peers, for the engine.

Transports for :mod:`.twoproc` (mechanisms ``shmch`` and ``queue`` of
``unixipc bench``), plus the workloads only these have: batched one-way
sends, objects through the queues, and the CPU an idle receiver uses.
Peers are optional (``pip install 'unixipc[bench]'``): a factory raises
ImportError when its library is missing.
"""

from __future__ import annotations

import os
import pickle
import resource
import time
from typing import Any, Callable

from .._fork import fork_call
from .harness import Result
from .twoproc import Link, Transport, flush_mp_queue, fork_child, unpin

__all__ = ["shmch_transport", "queue_transport",
           "mp_simple_queue_transport", "mp_queue_as_queue_transport",
           "faster_fifo_transport", "batched_one_way", "objects_one_way", "idle_cpu",
           "fan_in_out", "python_floor"]

RING = 1 << 22  # every ring and queue buffer here: 4 MiB


class _End:
    """An endpoint from two bound methods: one sends a message, one takes
    the next (channels: send/receive; queues: put/get)."""

    def __init__(self, send: Callable[[bytes], None], take: Callable[[], bytes]) -> None:
        self.send = send
        self.take = take

    def recv(self, size: int) -> bytes:
        return self.take()


def shmch_transport() -> Transport:
    """Two ShmChannels, one per direction."""
    from ..shmch import ShmChannel

    def open_link(size: int) -> Link:
        down, up = ShmChannel(capacity=RING), ShmChannel(capacity=RING)

        def close_all() -> None:
            down.close()
            up.close()

        return Link(parent=_End(down.send, up.receive), child=_End(up.send, down.receive),
                    close=close_all)

    return Transport("shmch", "unixipc", open_link)


# -- queues ------------------------------------------------------------------------

def _queue_link(make: Callable[[], Any], flush: Callable[[Any], None] | None = None) -> Link:
    down, up = make(), make()

    def close_all() -> None:
        if flush is not None:
            flush(down)
        up.close()
        down.close()

    return Link(parent=_End(down.put, up.get), child=_End(up.put, down.get), close=close_all,
                child_done=(lambda: flush(up)) if flush is not None else (lambda: None))


def queue_transport() -> Transport:
    """A pair of unixipc.Queue."""
    from ..queue import Queue
    return Transport("queue", "unixipc", lambda size: _queue_link(lambda: Queue(capacity=RING)))


def mp_queue_as_queue_transport() -> Transport:
    """A pair of multiprocessing.Queue (pipe, feeder thread, locks)."""
    import multiprocessing
    return Transport("queue", "multiprocessing.Queue",
                     lambda size: _queue_link(multiprocessing.Queue, flush_mp_queue))


def mp_simple_queue_transport() -> Transport:
    """A pair of multiprocessing.SimpleQueue (a locked pipe)."""
    import multiprocessing
    return Transport("queue", "multiprocessing.SimpleQueue",
                     lambda size: _queue_link(multiprocessing.SimpleQueue))


def faster_fifo_transport() -> Transport:
    """A pair of faster_fifo.Queue (a ring behind one process-shared mutex)."""
    import faster_fifo

    def make() -> Any:
        return faster_fifo.Queue(max_size_bytes=RING)

    return Transport("queue", "faster-fifo", lambda size: _queue_link(make))


# -- workloads of their own -------------------------------------------------------

def batched_one_way(name: str, impl: str, make: Callable[[], Any],
                    send_batch: Callable[[Any, list[bytes]], None],
                    receive_some: Callable[[Any], int], size: int, count: int,
                    batch: int = 64) -> list[Result]:
    """One-way messages of ``size`` bytes sent ``batch`` at a time into a
    channel made by ``make`` (inherited by a forked child that receives with
    ``receive_some(ch) -> how many``); messages/s and MB/s."""
    count -= count % batch  # whole batches only
    ch, done = make(), make()
    payload = [b"b" * size] * batch
    pid = fork_child()
    if pid == 0:
        code = 1
        try:
            got = 0
            while got < count:
                got += receive_some(ch)
            send_batch(done, [b"k"])
            code = 0
        finally:
            os._exit(code)
    try:
        t0 = time.perf_counter()
        for _ in range(count // batch):
            send_batch(ch, payload)
        receive_some(done)
        elapsed = time.perf_counter() - t0
    finally:
        os.waitpid(pid, 0)
        ch.close()
        done.close()
    rate = count / elapsed
    label = f"{name} one-way {size} B batched x{batch}"
    return [Result(label, impl, rate, "msg/s"), Result(label + " MB/s", impl, rate * size / 1e6,
                                                       "MB/s")]


def objects_one_way(label: str, impl: str, make: Callable[[], Any], obj: Any, count: int,
                    flush: Callable[[Any], None] | None = None) -> list[Result]:
    """``count`` copies of ``obj`` put into a queue made by ``make`` and got
    by a forked child (which answers once at the end): objects/s, and MB/s of
    the object's pickled size."""
    q, done = make(), make()
    pid = fork_child()
    if pid == 0:
        code = 1
        try:
            for _ in range(count):
                q.get()
            done.put(b"k")
            if flush is not None:
                flush(done)
            code = 0
        finally:
            os._exit(code)
    try:
        t0 = time.perf_counter()
        for _ in range(count):
            q.put(obj)
        done.get()
        elapsed = time.perf_counter() - t0
    finally:
        os.waitpid(pid, 0)
        if flush is not None:
            flush(q)
        q.close()
        done.close()
    rate = count / elapsed
    nbytes = len(pickle.dumps(obj, protocol=5))
    return [Result(label, impl, rate, "msg/s"),
            Result(label + " MB/s", impl, rate * nbytes / 1e6, "MB/s")]


def idle_cpu(impl: str, make: Callable[[], Any], wait: Callable[[Any], Any],
             wake: Callable[[Any], Any], seconds: float = 1.0) -> Result:
    """CPU time (in % of one CPU) of a forked child that waits (``wait(ch)``)
    ``seconds`` for a message that comes (``wake(ch)``) only at the end."""
    ch = make()
    r, w = os.pipe()
    pid = fork_child()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            wait(ch)
            u = resource.getrusage(resource.RUSAGE_SELF)  # times start at 0 in a fork child
            os.write(w, f"{u.ru_utime + u.ru_stime}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    try:
        time.sleep(seconds)
        wake(ch)
        used = float(os.read(r, 64).decode())
    finally:
        os.close(r)
        os.waitpid(pid, 0)
        ch.close()
    return Result("idle receiver CPU", impl, used / seconds * 100, "%")


def fan_in_out(impl: str, make: Callable[[], Any], send: Callable[[Any, bytes], Any],
               take: Callable[[Any], bytes], size: int, per_producer: int,
               n: int = 4, flush: Callable[[Any], None] | None = None) -> Result:
    """``n`` producer processes each send ``per_producer`` messages of
    ``size`` bytes into one channel made by ``make``, ``n`` consumer
    processes take them (an empty message ends each); messages/s from the
    first send to the last consumer's end. Every message must arrive."""
    ch = make()
    r, w = os.pipe()
    payload = b"f" * size

    def spawn(body: Callable[[], None]) -> int:
        def run() -> None:
            unpin()
            body()
        return fork_call(run)

    def consume() -> None:
        got = 0
        while take(ch):
            got += 1
        os.write(w, b"%d\n" % got)

    def produce() -> None:
        for _ in range(per_producer):
            send(ch, payload)
        if flush is not None:
            flush(ch)

    consumers = [spawn(consume) for _ in range(n)]
    os.close(w)
    t0 = time.perf_counter()
    producers = [spawn(produce) for _ in range(n)]
    for pid in producers:
        os.waitpid(pid, 0)
    for _ in range(n):
        send(ch, b"")
    for pid in consumers:
        os.waitpid(pid, 0)
    elapsed = time.perf_counter() - t0
    with os.fdopen(r, "rb") as f:
        total = sum(int(line) for line in f.read().split())
    if flush is not None:
        flush(ch)
    ch.close()
    if total != n * per_producer:
        raise RuntimeError(f"{impl}: {total} of {n * per_producer} messages arrived")
    return Result(f"fan-in/fan-out {n}x{n} {size} B", impl, total / elapsed, "msg/s")


def python_floor(count: int) -> Result:
    """The rate of a Python loop that calls a C function (``len``) with a
    64-byte message and does nothing else: what no Python binding's
    single-call rate can pass on this machine (one process, no sharing)."""
    payload = b"x" * 64
    f = len
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(count):
            f(payload)
        best = max(best, count / (time.perf_counter() - t0))
    return Result("python loop calling one C function", "python", best, "msg/s")
