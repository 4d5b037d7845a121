"""Message queue workloads, the same for unixipc, sysv_ipc and (in C)
bench/c/msg_bench.c.

One queue carries both directions: the parent sends type 1, the child
answers with type 2.

- round trip: send ``size`` bytes, the child echoes them; mean of ``count``
  trips in microseconds.
- one-way: the parent sends ``count`` messages back to back, the child
  receives them all and acknowledges with one message; messages per second.
- in-process pair: ``send`` then ``receive`` of 64 bytes in one process, the
  per-call cost of the binding; best of 5, microseconds per pair.
- batched one-way (unixipc only): the same stream through ``send_many`` and
  ``receive_many``.

Each implementation is a :class:`Impl`: how to make a private queue and
remove it, and the two calls, used as ``send(data, type=t)`` and
``receive(type=t)`` so every implementation pays the same call shape.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .harness import Result
from .twoproc import Link, Transport, fork_call

__all__ = ["Impl", "unixipc_impl", "sysv_ipc_impl", "round_trip", "one_way", "pair",
           "batched_one_way", "msgqueue_transport", "sysv_ipc_transport"]


@dataclass(frozen=True)
class Impl:
    """One implementation: ``make()`` returns (send, receive, remove);
    ``data_index`` is where the text sits in what ``receive`` returns
    (unixipc: ``(type, data)``, sysv_ipc: ``(data, type)``)."""

    name: str
    make: Callable[[], tuple[Callable[..., Any], Callable[..., Any], Callable[[], None]]]
    data_index: int = 1


def unixipc_impl() -> Impl:
    from ..msg import MessageQueue

    def make() -> tuple[Callable[..., Any], Callable[..., Any], Callable[[], None]]:
        q = MessageQueue(create=True)
        return q.send, q.receive, q.remove

    return Impl("unixipc", make)


def sysv_ipc_impl() -> Impl:
    """Raises ImportError when sysv_ipc is not installed."""
    import sysv_ipc

    def make() -> tuple[Callable[..., Any], Callable[..., Any], Callable[[], None]]:
        q = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, 0o600, max_message_size=8192)
        return q.send, q.receive, q.remove

    return Impl("sysv_ipc", make, data_index=0)


def _reap(pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"benchmark child failed with status {status}")


@contextlib.contextmanager
def _child(body: Callable[[], None]) -> Iterator[None]:
    """Run ``body`` in a forked child for the duration of the block; the
    child is reaped at the end (its failure raises), killed if the block
    raised."""
    pid = fork_call(body)
    try:
        yield
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    _reap(pid)


def round_trip(impl: Impl, size: int, count: int) -> Result:
    """Mean round trip of ``size`` bytes between two processes, in us."""
    send, receive, remove = impl.make()
    payload = b"x" * size
    warm = count // 10
    data = impl.data_index

    def echo() -> None:  # as the C child: nothing but receive and send back
        for _ in range(count + warm):
            send(receive(type=1)[data], type=2)

    try:
        with _child(echo):
            for _ in range(warm):
                send(payload, type=1)
                receive(type=2)
            t0 = time.perf_counter()
            for _ in range(count):
                send(payload, type=1)
                receive(type=2)
            elapsed = time.perf_counter() - t0
    finally:
        remove()
    return Result(f"msg round trip {size} B", impl.name, elapsed / count * 1e6, "us")


def one_way(impl: Impl, size: int, count: int) -> Result:
    """Messages per second of ``size`` bytes from one process to another."""
    send, receive, remove = impl.make()
    payload = b"y" * size

    def sink() -> None:
        for _ in range(count):
            receive(type=1)
        send(b"k", type=2)

    try:
        with _child(sink):
            t0 = time.perf_counter()
            for _ in range(count):
                send(payload, type=1)
            receive(type=2)
            elapsed = time.perf_counter() - t0
    finally:
        remove()
    return Result(f"msg one-way {size} B", impl.name, count / elapsed, "msg/s")


def pair(impl: Impl, count: int, repeat: int = 5) -> Result:
    """A send then a receive of 64 bytes in one process, us per pair."""
    send, receive, remove = impl.make()
    payload = b"p" * 64
    best = float("inf")
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(count):
                send(payload, type=1)
                receive(type=0)
            best = min(best, (time.perf_counter() - t0) / count)
    finally:
        remove()
    return Result("msg in-process pair 64 B", impl.name, best * 1e6, "us")


def batched_one_way(size: int, count: int, batch: int = 64) -> Result:
    """unixipc's send_many/receive_many: messages per second one-way."""
    from ..msg import MessageQueue

    q = MessageQueue(create=True)
    messages = [b"y" * size] * batch

    def sink() -> None:
        got = 0
        while got < count:
            got += len(q.receive_many(batch, 1))
        q.send(b"k", 2)

    try:
        with _child(sink):
            t0 = time.perf_counter()
            sent = 0
            while sent < count:
                sent += q.send_many(messages[:count - sent])
            q.receive(2)
            elapsed = time.perf_counter() - t0
    finally:
        q.remove()
    return Result(f"msg one-way {size} B", "unixipc send_many/receive_many", count / elapsed,
                  "msg/s")


class _Endpoint:
    """A twoproc endpoint over one queue: sends one type, receives the other."""

    def __init__(self, send: Callable[..., Any], receive: Callable[..., Any], out_type: int,
                 in_type: int) -> None:
        self._send, self._receive = send, receive
        self._out, self._in = out_type, in_type

    def send(self, data: bytes) -> None:
        self._send(data, type=self._out)

    def recv(self, size: int) -> bytes:
        msg = self._receive(type=self._in)
        data = msg[1] if isinstance(msg[1], bytes) else msg[0]
        return bytes(data)


def msgqueue_transport(impl_factory: Callable[[], Impl] = unixipc_impl) -> Transport:
    """A :class:`~.twoproc.Transport` over one message queue (for the
    generic ``unixipc bench`` engine); messages up to msgmax (8 KiB)."""
    impl = impl_factory()

    def open_link(size: int) -> Link:
        send, receive, remove = impl.make()
        return Link(parent=_Endpoint(send, receive, 1, 2), child=_Endpoint(send, receive, 2, 1),
                    close=remove)

    return Transport("msg", impl.name, open_link, max_size=8192)


def sysv_ipc_transport() -> Transport:
    """The same transport over sysv_ipc (ImportError when not installed)."""
    return msgqueue_transport(sysv_ipc_impl)
