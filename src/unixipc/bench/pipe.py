"""Pipe and FIFO workloads: unixipc's ends against raw os.read/os.write.

Transports for :mod:`.twoproc` (round trip and one-way throughput between a
parent and a forked child) and an in-process measurement of the write path
(what SIGPIPE safety costs per write).
"""

from __future__ import annotations

import os
import signal
import tempfile
from typing import Callable

from ..fifo import Fifo
from ..pipe import Pipe, PipeReader, PipeWriter
from .harness import Result, time_per_op
from .twoproc import FdEnd, Link, Transport, read_rest

__all__ = ["unixipc_pipe_transport", "unixipc_fifo_transport", "os_fifo_transport",
           "write_path_costs"]


class _UnixipcEnd:
    """An endpoint over unixipc's PipeReader/PipeWriter, used as a user would."""

    def __init__(self, reader: PipeReader, writer: PipeWriter) -> None:
        self.read = reader.read
        self.write = writer.write

    def send(self, data: bytes) -> None:
        self.write(data)

    def recv(self, size: int) -> bytes:
        data = self.read(size)
        if len(data) == size or not data:
            return data
        return read_rest(self.read, data, size)


def _closer(*ends: object) -> Callable[[], None]:
    def close() -> None:
        for end in ends:
            if isinstance(end, int):
                try:
                    os.close(end)
                except OSError:
                    pass
            else:
                end.close()  # type: ignore[attr-defined]
    return close


def unixipc_pipe_transport() -> Transport:
    """Two unixipc.Pipe objects, one per direction."""

    def open_link(size: int) -> Link:
        p2c, c2p = Pipe(), Pipe()
        return Link(parent=_UnixipcEnd(c2p.reader, p2c.writer),
                    child=_UnixipcEnd(p2c.reader, c2p.writer),
                    close=_closer(p2c, c2p),
                    in_child=_closer(p2c.writer, c2p.reader),
                    in_parent=_closer(p2c.reader, c2p.writer))

    return Transport("pipe", "unixipc", open_link)


def _fifo_pair(tmp: str, name: str) -> tuple[PipeReader, PipeWriter]:
    fifo = Fifo(os.path.join(tmp, name), create=True)
    reader = fifo.open_reader(nonblock=True)  # so the writer's open does not wait
    writer = fifo.open_writer()
    reader.nonblocking = False
    fifo.unlink()
    return reader, writer


def unixipc_fifo_transport() -> Transport:
    """Two FIFOs opened with unixipc.Fifo, one per direction."""

    def open_link(size: int) -> Link:
        with tempfile.TemporaryDirectory() as tmp:
            p2c_r, p2c_w = _fifo_pair(tmp, "p2c")
            c2p_r, c2p_w = _fifo_pair(tmp, "c2p")
        return Link(parent=_UnixipcEnd(c2p_r, p2c_w), child=_UnixipcEnd(p2c_r, c2p_w),
                    close=_closer(p2c_r, p2c_w, c2p_r, c2p_w),
                    in_child=_closer(p2c_w, c2p_r), in_parent=_closer(p2c_r, c2p_w))

    return Transport("fifo", "unixipc", open_link)


def _os_fifo_pair(tmp: str, name: str) -> tuple[int, int]:
    path = os.path.join(tmp, name)
    os.mkfifo(path, 0o600)
    r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(path, os.O_WRONLY)
    os.set_blocking(r, True)
    os.unlink(path)
    return r, w


def os_fifo_transport() -> Transport:
    """Two FIFOs driven by raw os.open/os.read/os.write."""

    def open_link(size: int) -> Link:
        with tempfile.TemporaryDirectory() as tmp:
            p2c_r, p2c_w = _os_fifo_pair(tmp, "p2c")
            c2p_r, c2p_w = _os_fifo_pair(tmp, "c2p")
        return Link(parent=FdEnd(c2p_r, p2c_w), child=FdEnd(p2c_r, c2p_w),
                    close=_closer(p2c_r, p2c_w, c2p_r, c2p_w),
                    in_child=_closer(p2c_w, c2p_r), in_parent=_closer(p2c_r, c2p_w))

    return Transport("fifo", "os.read/os.write", open_link)


def write_path_costs(size: int = 64, count: int = 200_000) -> list[Result]:
    """In one process: the cost of one write + read of ``size`` bytes with
    raw os calls and with unixipc, SIGPIPE ignored (Python's default) and
    at its default action (unixipc then blocks SIGPIPE around the write)."""
    p = Pipe()
    payload = b"w" * size
    rfd, wfd = p.reader.fileno(), p.writer.fileno()
    read, write = p.reader.read, p.writer.write

    def raw(n: int) -> None:
        for _ in range(n):
            os.write(wfd, payload)
            os.read(rfd, size)

    def wrapped(n: int) -> None:
        for _ in range(n):
            write(payload)
            read(size)

    name = f"pipe write+read {size} B, 1 process"
    results = [Result(name, "os.write/os.read", time_per_op(raw, count) * 1e6, "us"),
               Result(name, "unixipc", time_per_op(wrapped, count) * 1e6, "us")]
    old = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        results.append(Result(name, "unixipc SIGPIPE=SIG_DFL",
                              time_per_op(wrapped, count) * 1e6, "us"))
    finally:
        signal.signal(signal.SIGPIPE, old)
    p.close()
    return results

