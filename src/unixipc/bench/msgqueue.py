"""Message-queue workloads: transports for the two-process engine and the
in-process send+receive pair that shows a binding's per-call cost."""

from __future__ import annotations

from typing import Any, Callable

from .harness import Result, time_per_op
from .twoproc import Link, Transport


class _MQEnd:
    """One side of a queue used in both directions: types tell sides apart."""

    def __init__(self, mq: Any, out_type: int, in_type: int) -> None:
        self.send_fn = mq.send
        self.receive_fn = mq.receive
        self.out_type, self.in_type = out_type, in_type

    def send(self, data: bytes) -> None:
        self.send_fn(data, self.out_type)

    def recv(self, size: int) -> bytes:
        data: bytes = self.receive_fn(self.in_type)[1]
        return data


class _SysvEnd(_MQEnd):
    def recv(self, size: int) -> bytes:
        data: bytes = self.receive_fn(type=self.in_type)[0]
        return data

    def send(self, data: bytes) -> None:
        self.send_fn(data, type=self.out_type)


def unixipc_transport() -> Transport:
    from .. import MessageQueue

    def open_link(size: int) -> Link:
        mq = MessageQueue(create=True)
        return Link(parent=_MQEnd(mq, 1, 2), child=_MQEnd(mq, 2, 1), close=mq.remove)

    return Transport("mq", "unixipc", open_link, max_size=8192)


def sysv_ipc_transport() -> Transport:
    import sysv_ipc

    def open_link(size: int) -> Link:
        mq = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, mode=0o600,
                                   max_message_size=8192)
        return Link(parent=_SysvEnd(mq, 1, 2), child=_SysvEnd(mq, 2, 1), close=mq.remove)

    return Transport("mq", "sysv_ipc", open_link, max_size=8192)


def pair_workloads(size: int = 64) -> list[tuple[str, Callable[[int], None], Callable[[], None]]]:
    """(impl, run(count), cleanup) for a send+receive pair in one process."""
    from .. import MessageQueue

    payload = b"p" * size
    found: list[tuple[str, Callable[[int], None], Callable[[], None]]] = []
    mq = MessageQueue(create=True)

    def unixipc_pair(count: int, send: Any = mq.send, receive: Any = mq.receive) -> None:
        for _ in range(count):
            send(payload)
            receive()

    found.append(("unixipc", unixipc_pair, mq.remove))
    try:
        import sysv_ipc
    except ImportError:
        return found
    smq = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, mode=0o600,
                                   max_message_size=8192)

    def sysv_pair(count: int, send: Any = smq.send, receive: Any = smq.receive) -> None:
        for _ in range(count):
            send(payload)
            receive()

    found.append(("sysv_ipc", sysv_pair, smq.remove))
    return found


def pair_results(size: int = 64, count: int = 100_000) -> list[Result]:
    results = []
    for impl, run, cleanup in pair_workloads(size):
        try:
            results.append(Result(f"mq send+receive in one process {size} B", impl,
                                  time_per_op(run, count) * 1e6, "us"))
        finally:
            cleanup()
    return results


def batch_results(size: int = 64, total: int = 200_000, batch: int = 64) -> list[Result]:
    """One-way throughput with send_many/receive_many between two processes."""
    import os
    import time

    from .. import MessageQueue

    mq = MessageQueue(create=True)
    try:
        messages = [b"b" * size] * batch
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                got = 0
                while got < total:
                    got += len(mq.receive_many(batch, type=1))
                mq.send(b"done", type=2)
                code = 0
            finally:
                os._exit(code)
        t0 = time.perf_counter()
        for _ in range(total // batch):
            mq.send_many(messages, type=1)
        mq.receive(type=2)
        elapsed = time.perf_counter() - t0
        os.waitpid(pid, 0)
    finally:
        mq.remove()
    return [Result(f"mq one-way {size} B", "unixipc send_many/receive_many",
                   total // batch * batch / elapsed, "msg/s")]
