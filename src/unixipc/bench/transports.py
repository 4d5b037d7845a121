"""The transports ``unixipc bench`` measures, unixipc's and its peers'.

Each ``*_transport()`` function returns a :class:`~.twoproc.Transport`, or
raises ImportError when its library is not installed (peers are optional:
``pip install 'unixipc[bench]'``).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

from .twoproc import FdEnd, Link, Transport, flush_mp_queue


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

        def close_all() -> None:
            flush_mp_queue(to_child)  # the next fork must not copy its feeder mid-exit
            to_parent.close()

        return Link(parent=_QueueEnd(to_child, to_parent), child=_QueueEnd(to_parent, to_child),
                    close=close_all, child_done=lambda: flush_mp_queue(to_parent))

    return Transport("pipe", "multiprocessing.Queue", open_link)


# The mechanisms' own workload modules define their transports; they are
# gathered here (imported after the peers above, which some of them reuse).
from .msg import msgqueue_transport, sysv_ipc_transport  # noqa: E402
from .pipe import os_fifo_transport, unixipc_fifo_transport, unixipc_pipe_transport  # noqa: E402
from .sem import (semaphore_transport, shared_memory_transport,  # noqa: E402
                        sysv_ipc_semaphore_transport)
from .sock import (mp_connection_transport, raw_seqpacket_transport,  # noqa: E402
                      raw_tcp_transport, raw_unix_transport, seqpacket_channel_transport,
                      tcp_channel_transport, unix_channel_transport, zmq_ipc_transport,
                      zmq_tcp_transport)

from .shmch import (faster_fifo_transport, mp_queue_as_queue_transport,  # noqa: E402
                    mp_simple_queue_transport, queue_transport, shmch_transport)
from .iceoryx2_peer import iceoryx2_events_transport, iceoryx2_transport  # noqa: E402


def _relabeled(factory: Callable[[], Transport], name: str, impl: str) -> Callable[[], Transport]:
    """Another mechanism's transport, measured in the rows of `name`."""
    def make() -> Transport:
        return dataclasses.replace(factory(), name=name, impl=impl)
    make.__name__ = f"{name}_{factory.__name__}"
    return make


#: What the shared-memory channel is measured against (with --peers).
SHMCH_PEERS = [_relabeled(unixipc_pipe_transport, "shmch", "unixipc pipe"),
               _relabeled(unix_channel_transport, "shmch", "unixipc unix channel"),
               _relabeled(os_pipe_transport, "shmch", "os.pipe"),
               _relabeled(mp_pipe_transport, "shmch", "multiprocessing.Pipe"),
               _relabeled(zmq_ipc_transport, "shmch", "pyzmq ipc"),
               iceoryx2_transport, iceoryx2_events_transport]
QUEUE_PEERS = [mp_queue_as_queue_transport, mp_simple_queue_transport, faster_fifo_transport]

#: Mechanism name -> transport factories, unixipc's first, then peers.
REGISTRY: dict[str, list[Callable[[], Transport]]] = {
    "pipe": [unixipc_pipe_transport, os_pipe_transport, mp_pipe_transport, mp_queue_transport],
    "fifo": [unixipc_fifo_transport, os_fifo_transport],
    "msg": [msgqueue_transport, sysv_ipc_transport],
    "sem": [semaphore_transport, sysv_ipc_semaphore_transport],
    "shm": [shared_memory_transport],
    "unix": [unix_channel_transport, raw_unix_transport, mp_connection_transport,
             zmq_ipc_transport],
    "seqpacket": [seqpacket_channel_transport, raw_seqpacket_transport],
    "tcp": [tcp_channel_transport, raw_tcp_transport, zmq_tcp_transport],
    "shmch": [shmch_transport, *SHMCH_PEERS],
    "queue": [queue_transport, *QUEUE_PEERS],
}

#: Factories whose impl is a peer (shown only with --peers).
PEERS: set[Callable[[], Transport]] = {os_pipe_transport, mp_pipe_transport, mp_queue_transport,
                                       os_fifo_transport, sysv_ipc_transport, sysv_ipc_semaphore_transport,
                                       raw_unix_transport, raw_seqpacket_transport,
                                       raw_tcp_transport, mp_connection_transport,
                                       zmq_ipc_transport, zmq_tcp_transport,
                                       *SHMCH_PEERS, *QUEUE_PEERS}


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

