"""Socket channel workloads: MessageChannel over Unix stream, Unix seqpacket
and TCP loopback, beside raw ``socket`` send/recv, pyzmq PAIR (ipc://,
tcp://) and multiprocessing.connection, all through the two-process engine.

Workload names group the comparable rows: "unix stream", "unix seqpacket",
"tcp". Round trip 64 B; one-way 4 KiB and 64 KiB.
"""

from __future__ import annotations

import os
import socket
import tempfile
from typing import Any, Callable

from ..sockets import MessageChannel
from .harness import Result
from .twoproc import Link, Transport, one_way, read_rest, round_trip

__all__ = ["transports", "run", "unix_channel_transport", "seqpacket_channel_transport",
           "tcp_channel_transport", "zmq_ipc_transport", "zmq_tcp_transport"]


class _ChannelEnd:
    def __init__(self, ch: MessageChannel) -> None:
        self.ch = ch
        self.receive = ch.receive
        self._send = ch.send
        self.close = ch.close  # the channel owns the socket

    def send(self, data: bytes) -> None:
        self._send(data)

    def recv(self, size: int) -> bytes:
        return self.receive().data


class _RawStreamEnd:
    """Raw sockets: sendall / recv exactly ``size`` (no framing needed since
    the size is known: the floor a framed channel is measured against)."""

    def __init__(self, s: socket.socket) -> None:
        self.s = s
        self.send = s.sendall
        self._recv = s.recv
        self.close = s.close

    def recv(self, size: int) -> bytes:
        data = self._recv(size)
        if len(data) == size or not data:
            return data
        return read_rest(self._recv, data, size)


class _RawPacketEnd:
    def __init__(self, s: socket.socket) -> None:
        self.send = s.send
        self._recv = s.recv
        self.close = s.close

    def recv(self, size: int) -> bytes:
        return self._recv(size)


def _closer(*objs: Any) -> Callable[[], None]:
    def close() -> None:
        for o in objs:
            o.close()
    return close


def _pair_link(kind: int, wrap: Callable[[socket.socket], Any]) -> Callable[[int], Link]:
    def open_link(size: int) -> Link:
        a, b = socket.socketpair(socket.AF_UNIX, kind)
        if kind == socket.SOCK_SEQPACKET:
            for s in (a, b):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        ends = wrap(a), wrap(b)
        return Link(parent=ends[0], child=ends[1], close=_closer(*ends),
                    in_child=ends[0].close, in_parent=ends[1].close)
    return open_link


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        a = socket.create_connection(lst.getsockname())
        b, _ = lst.accept()
    for s in (a, b):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return a, b


def _tcp_link(wrap: Callable[[socket.socket], Any]) -> Callable[[int], Link]:
    def open_link(size: int) -> Link:
        a, b = _tcp_pair()
        ends = wrap(a), wrap(b)
        return Link(parent=ends[0], child=ends[1], close=_closer(*ends),
                    in_child=ends[0].close, in_parent=ends[1].close)
    return open_link


def _channel(s: socket.socket) -> _ChannelEnd:
    return _ChannelEnd(MessageChannel(s))


class _ZmqEnd:
    """A PAIR socket made lazily in the process that uses it, so no zmq
    context (nor its I/O threads) ever exists across a fork."""

    def __init__(self, url: str, bind: bool) -> None:
        self.url, self.bind = url, bind
        self.sock: Any = None
        self.ctx: Any = None

    def _open(self) -> Any:
        import zmq
        self.ctx = zmq.Context()
        s: Any = self.ctx.socket(zmq.PAIR)
        s.linger = 0
        (s.bind if self.bind else s.connect)(self.url)
        self.sock = s
        return s

    def send(self, data: bytes) -> None:
        (self.sock or self._open()).send(data)

    def recv(self, size: int) -> bytes:
        return bytes((self.sock or self._open()).recv())

    def flush_and_close(self, linger_ms: int = 10_000) -> None:
        """Close with a linger: zmq_ctx_term then waits (at most
        ``linger_ms``) until the I/O thread has written every queued
        message to the kernel."""
        if self.sock is not None:
            self.sock.close(linger=linger_ms)
            self.ctx.term()
            self.sock = self.ctx = None


def _zmq_link(scheme: str) -> Callable[[int], Link]:
    import zmq  # noqa: F401  (ImportError when the peer is absent)

    def open_link(size: int) -> Link:
        if scheme == "ipc":
            d = tempfile.mkdtemp(prefix="unixipc-zmq-")
            url = f"ipc://{d}/pair"
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                url = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        parent, child = _ZmqEnd(url, True), _ZmqEnd(url, False)

        def close() -> None:
            parent.flush_and_close(0)
            if scheme == "ipc":
                try:
                    os.unlink(url[6:])
                except OSError:
                    pass
                try:
                    os.rmdir(os.path.dirname(url[6:]))
                except OSError:
                    pass

        # The engine ends the child with os._exit right after its last send.
        # zmq_send only queues a message for libzmq's I/O thread (messages
        # under 64 KiB are copied, so even a tracked send is "done" at once)
        # and os._exit kills that thread: the last reply was lost about one
        # run in two and the parent waited forever. Closing the socket with a
        # linger and terminating the context first flushes the queue.
        return Link(parent=parent, child=child, close=close,
                    child_done=child.flush_and_close)
    return open_link


class _MpEnd:
    def __init__(self, conn: Any) -> None:
        self.send = conn.send_bytes
        self._recv = conn.recv_bytes

    def recv(self, size: int) -> bytes:
        return self._recv()  # type: ignore[no-any-return]


def _mp_link(size: int) -> Link:
    import multiprocessing.connection as mpc
    a, b = mpc.Pipe(duplex=True)
    return Link(parent=_MpEnd(a), child=_MpEnd(b), close=_closer(a, b),
                in_child=a.close, in_parent=b.close)


def unix_channel_transport() -> Transport:
    """MessageChannel over a Unix stream socket pair."""
    return Transport("unix stream", "unixipc", _pair_link(socket.SOCK_STREAM, _channel))


def seqpacket_channel_transport() -> Transport:
    """MessageChannel over a Unix seqpacket socket pair."""
    return Transport("unix seqpacket", "unixipc", _pair_link(socket.SOCK_SEQPACKET, _channel))


def tcp_channel_transport() -> Transport:
    """MessageChannel over TCP loopback (TCP_NODELAY)."""
    return Transport("tcp", "unixipc", _tcp_link(_channel))


def raw_unix_transport() -> Transport:
    """Raw socket.sendall/recv over a Unix stream pair: the floor."""
    return Transport("unix stream", "socket", _pair_link(socket.SOCK_STREAM, _RawStreamEnd))


def raw_seqpacket_transport() -> Transport:
    """Raw socket.send/recv over a Unix seqpacket pair."""
    return Transport("unix seqpacket", "socket", _pair_link(socket.SOCK_SEQPACKET, _RawPacketEnd))


def raw_tcp_transport() -> Transport:
    """Raw socket.sendall/recv over TCP loopback."""
    return Transport("tcp", "socket", _tcp_link(_RawStreamEnd))


def mp_connection_transport() -> Transport:
    """multiprocessing.connection.Pipe (length-prefixed frames)."""
    return Transport("unix stream", "multiprocessing", _mp_link)


def zmq_ipc_transport() -> Transport:
    """pyzmq PAIR over ipc:// (raises ImportError without pyzmq)."""
    return Transport("unix stream", "pyzmq ipc", _zmq_link("ipc"))


def zmq_tcp_transport() -> Transport:
    """pyzmq PAIR over tcp:// on 127.0.0.1 (raises ImportError without pyzmq)."""
    return Transport("tcp", "pyzmq tcp", _zmq_link("tcp"))


def zmq_transports() -> list[Transport]:
    """pyzmq PAIR over ipc:// and tcp://, when pyzmq is installed
    (UNIXIPC_BENCH_ZMQ=0 leaves them out)."""
    if os.environ.get("UNIXIPC_BENCH_ZMQ") == "0":
        return []
    try:
        return [zmq_ipc_transport(), zmq_tcp_transport()]
    except ImportError:
        return []


def transports(peers: bool = True) -> list[Transport]:
    """unixipc's transports, then (with ``peers``) the raw-socket floor and
    the installed peer libraries."""
    out = [unix_channel_transport(), seqpacket_channel_transport(), tcp_channel_transport()]
    if peers:
        out += [raw_unix_transport(), raw_seqpacket_transport(), raw_tcp_transport(),
                mp_connection_transport()] + zmq_transports()
    return out


def run(peers: bool = True, scale: float = 1.0) -> list[Result]:
    """Round trip 64 B, one-way 4 KiB and 64 KiB for every transport."""
    results: list[Result] = []
    for t in transports(peers):
        results.append(round_trip(t, 64, max(100, int(5000 * scale))))
        for size, count in ((4096, 20000), (65536, 4000)):
            for r in one_way(t, size, max(100, int(count * scale))):
                if r.unit == "MB/s":
                    results.append(r)
    return results
