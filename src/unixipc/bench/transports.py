"""The transports ``unixipc bench`` measures, unixipc's and its peers'.

Each ``*_transport()`` function returns a :class:`~.twoproc.Transport`, or
raises ImportError when its library is not installed (peers are optional:
``pip install 'unixipc[bench]'``).
"""

from __future__ import annotations

import os
from typing import Callable

from .twoproc import FdEnd, Link, Transport, wait_thread_gone


def os_pipe_transport() -> Transport:
    """Two anonymous pipes driven by raw os.read/os.write: the floor any
    Python pipe wrapper is measured against."""

    def open_link(size: int) -> Link:
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        fds = (p2c_r, p2c_w, c2p_r, c2p_w)

        def close_all() -> None:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass

        return Link(parent=FdEnd(c2p_r, p2c_w), child=FdEnd(p2c_r, c2p_w), close=close_all)

    return Transport("pipe", "os.read/os.write", open_link)


def mp_pipe_transport() -> Transport:
    """multiprocessing.Pipe (a socketpair with length-prefixed frames)."""
    import multiprocessing

    class _ConnEnd:
        def __init__(self, conn: "multiprocessing.connection.Connection") -> None:
            self.conn = conn

        def send(self, data: bytes) -> None:
            self.conn.send_bytes(data)

        def recv(self, size: int) -> bytes:
            return self.conn.recv_bytes()

    def open_link(size: int) -> Link:
        a, b = multiprocessing.Pipe(duplex=True)

        def close_all() -> None:
            a.close()
            b.close()

        return Link(parent=_ConnEnd(a), child=_ConnEnd(b), close=close_all)

    return Transport("pipe", "multiprocessing.Pipe", open_link)


def mp_queue_transport() -> Transport:
    """A pair of multiprocessing.Queue (a pipe, pickling, and a feeder thread
    in each sending process)."""
    import multiprocessing

    class _QueueEnd:
        def __init__(self, out: "multiprocessing.Queue[bytes]",
                     into: "multiprocessing.Queue[bytes]") -> None:
            self.out, self.into = out, into

        def send(self, data: bytes) -> None:
            self.out.put(data)

        def recv(self, size: int) -> bytes:
            return self.into.get()

    def open_link(size: int) -> Link:
        to_child: "multiprocessing.Queue[bytes]" = multiprocessing.Queue()
        to_parent: "multiprocessing.Queue[bytes]" = multiprocessing.Queue()

        def flush(queue: "multiprocessing.Queue[bytes]") -> None:
            queue.close()  # the feeder thread writes what is left, then stops
            queue.join_thread()
            feeder = getattr(queue, "_thread", None)
            if feeder is not None:
                wait_thread_gone(feeder)  # the next fork must not copy it mid-exit

        def close_all() -> None:
            flush(to_child)
            to_parent.close()

        return Link(parent=_QueueEnd(to_child, to_parent), child=_QueueEnd(to_parent, to_child),
                    close=close_all, child_done=lambda: flush(to_parent))

    return Transport("pipe", "multiprocessing.Queue", open_link)


# The mechanisms' own workload modules define their transports; they are
# gathered here (imported after the peers above, which some of them reuse).
from .msgqueue import msgqueue_transport, sysv_ipc_transport  # noqa: E402
from .pipe import os_fifo_transport, unixipc_fifo_transport, unixipc_pipe_transport  # noqa: E402
from .semaphore import (semaphore_transport, shared_memory_transport,  # noqa: E402
                        sysv_ipc_semaphore_transport)
from .sockets import (mp_connection_transport, raw_seqpacket_transport,  # noqa: E402
                      raw_tcp_transport, raw_unix_transport, seqpacket_channel_transport,
                      tcp_channel_transport, unix_channel_transport, zmq_ipc_transport,
                      zmq_tcp_transport)

#: Mechanism name -> transport factories, unixipc's first, then peers.
REGISTRY: dict[str, list[Callable[[], Transport]]] = {
    "pipe": [unixipc_pipe_transport, os_pipe_transport, mp_pipe_transport, mp_queue_transport],
    "fifo": [unixipc_fifo_transport, os_fifo_transport],
    "mq": [msgqueue_transport, sysv_ipc_transport],
    "sem": [semaphore_transport, sysv_ipc_semaphore_transport],
    "shm": [shared_memory_transport],
    "unix": [unix_channel_transport, raw_unix_transport, mp_connection_transport,
             zmq_ipc_transport],
    "seqpacket": [seqpacket_channel_transport, raw_seqpacket_transport],
    "tcp": [tcp_channel_transport, raw_tcp_transport, zmq_tcp_transport],
}

#: Factories whose impl is a peer (shown only with --peers).
PEERS: set[Callable[[], Transport]] = {os_pipe_transport, mp_pipe_transport, mp_queue_transport,
                                       os_fifo_transport, sysv_ipc_transport, sysv_ipc_semaphore_transport,
                                       raw_unix_transport, raw_seqpacket_transport,
                                       raw_tcp_transport, mp_connection_transport,
                                       zmq_ipc_transport, zmq_tcp_transport}


def collect(mechanism: str, *, peers: bool) -> list[Transport]:
    """The transports to measure for a mechanism; peers not installed are
    skipped silently (their absence is not an error)."""
    found = []
    for factory in REGISTRY[mechanism]:
        if factory in PEERS and not peers:
            continue
        try:
            found.append(factory())
        except ImportError:
            continue
    return found

