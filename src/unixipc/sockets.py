"""Message channels over stream and seqpacket sockets (Unix and TCP).

A :class:`MessageChannel` carries whole messages:

* over a stream socket (``SOCK_STREAM``, Unix or TCP) each message is one
  frame: an 8-byte little-endian unsigned length, then the bytes;
* over a Unix ``SOCK_SEQPACKET`` socket each message is one kernel record
  (no header: the kernel keeps the boundaries).

Descriptors travel with a message over Unix sockets (SCM_RIGHTS). Addresses
are text: ``"unix:/path"``, ``"unix:@abstract"``, ``"tcp:host:port"``
(``"tcp:[::1]:port"`` for IPv6). The plain :mod:`socket` object stays
available as ``channel.socket``.
"""

from __future__ import annotations

import array
import asyncio
import errno as _errno
import os
import shutil
import socket as _socket
import struct
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, NamedTuple, Sequence

from . import _core
from ._args import check_fd, flat_list, is_bytes_like
from ._closable import ClosableResource
from ._timeouts import check_timeout
from .errors import ChannelClosedError, IPCError, MessageTooLongError

__all__ = [
    "Message", "MessageChannel", "Listener", "Credentials",
    "ChannelClosedError", "IncompleteMessageError", "FrameTooLargeError",
    "listen", "connect", "parse_address",
    "DEFAULT_MAX_SIZE", "SEQPACKET_DEFAULT_MAX_SIZE", "SCM_MAX_FD",
]

_HEADER = struct.Struct("<Q")
_HSIZE = _HEADER.size
_pack = _HEADER.pack
_unpack_from = _HEADER.unpack_from

#: Largest frame a stream channel accepts unless told otherwise (64 MiB).
DEFAULT_MAX_SIZE = 64 << 20
#: Largest message a seqpacket channel accepts unless told otherwise (4 MiB):
#: Linux allocates one record in one kernel buffer, so a record much beyond
#: 4 MiB fails with ENOBUFS whatever SO_SNDBUF says.
SEQPACKET_DEFAULT_MAX_SIZE = 4 << 20
#: The kernel's limit on descriptors in one SCM_RIGHTS message.
SCM_MAX_FD = 253

_IOV_MAX = 1024
_READ_CHUNK = 256 * 1024
_ANCBUF = _socket.CMSG_SPACE(SCM_MAX_FD * 4) + _socket.CMSG_SPACE(12)
# Plain ints: the socket module's MSG_* are IntFlag members, and an IntFlag
# "|" or "&" runs enum machinery (about 1 us each, per message).
_NOSIGNAL = int(getattr(_socket, "MSG_NOSIGNAL", 0))
_CLOEXEC = int(getattr(_socket, "MSG_CMSG_CLOEXEC", 0))
_TRUNC = int(_socket.MSG_TRUNC)
_CTRUNC = int(_socket.MSG_CTRUNC)
_RECORD_FLAGS = _CLOEXEC | _TRUNC
_EITHER_TRUNC = _TRUNC | _CTRUNC
# ChannelBase's directions (_hold / _unhold)
_SEND = 0
_RECEIVE = 1
# How often an async twin looks again while another thread holds its direction.
_BUSY_POLL = 0.001


class IncompleteMessageError(EOFError):
    """The stream ended in the middle of a frame: the peer died or closed
    while sending. ``received`` bytes of ``expected`` arrived (``expected``
    is None when even the 8-byte header was cut). An EOFError, like
    :class:`ChannelClosedError`, but never silent truncation."""

    def __init__(self, received: int, expected: int | None) -> None:
        what = "frame header" if expected is None else f"frame of {expected} bytes"
        super().__init__(f"peer closed the stream after {received} bytes of a {what}")
        self.received = received
        self.expected = expected


class FrameTooLargeError(IPCError):
    """EMSGSIZE: an incoming frame header announced more than the channel's
    ``max_size`` (garbage or a hostile peer). Raised before allocating; the
    stream cannot be resynchronised, so the channel is closed."""


class Message(NamedTuple):
    """One received message: its bytes and the descriptors that came with
    it (owned by the receiver, close-on-exec; close them when done)."""

    data: bytes
    fds: tuple[int, ...] = ()


def _new_message(fields: tuple[bytes, tuple[int, ...]]) -> Message:
    """Message(data, fds) without the Python-level __new__ (hot paths)."""
    return tuple.__new__(Message, fields)


_core._sock_set_message_type(Message)


@dataclass(frozen=True, slots=True)
class Credentials:
    """SO_PEERCRED: the peer's process id, user id and group id as they were
    when it connected (or created the socket pair)."""

    pid: int
    uid: int
    gid: int


# ---- addresses ------------------------------------------------------------



def parse_address(address: str) -> tuple[int, str | bytes | tuple[str, int]]:
    """Split ``"unix:/path"``, ``"unix:@name"`` (abstract namespace) or
    ``"tcp:host:port"`` into (family, socket-module address).

    Raises:
        ValueError: for any other form.
    """
    if not isinstance(address, str):
        raise TypeError(f"address must be str, not {type(address).__name__}")
    scheme, sep, rest = address.partition(":")
    if not sep or not rest:
        raise ValueError(f"address must be unix:/path, unix:@name or tcp:host:port: {address!r}")
    if "\0" in rest:
        raise ValueError("address contains a NUL character")
    if scheme == "unix":
        if rest.startswith("@"):
            return _socket.AF_UNIX, b"\0" + rest[1:].encode()
        return _socket.AF_UNIX, rest
    if scheme == "tcp":
        host, sep, port_text = rest.rpartition(":")
        if not sep or not port_text.isdigit() or int(port_text) > 65535:
            raise ValueError(f"tcp address needs host:port: {address!r}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
        return family, (host, int(port_text))
    raise ValueError(f"unknown address scheme {scheme!r} (use unix: or tcp:)")


def _kind(kind: str) -> int:
    if kind == "stream":
        return _socket.SOCK_STREAM
    if kind == "seqpacket":
        return _socket.SOCK_SEQPACKET
    raise ValueError(f"kind must be 'stream' or 'seqpacket', not {kind!r}")


def _timed_out(call: str) -> TimeoutError:
    return TimeoutError(_errno.ETIMEDOUT, f"{call}: timed out")


def _close_fds(fds: Iterable[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _fds_from(ancdata: list[tuple[int, int, bytes]]) -> tuple[list[int], bool]:
    """Descriptors from SCM_RIGHTS ancillary data, and whether a
    SCM_CREDENTIALS record was present (it marks a real seqpacket record)."""
    fds: list[int] = []
    creds = False
    for level, kind, data in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(data[: len(data) - len(data) % a.itemsize])
            fds.extend(a)
        elif level == _socket.SOL_SOCKET and kind == _socket.SCM_CREDENTIALS:
            creds = True
    return fds, creds


# ---- the channel -----------------------------------------------------------

class MessageChannel(ClosableResource, _core.ChannelBase):
    """Whole messages over one connected socket.

    Args:
        sock: a connected ``SOCK_STREAM`` (Unix or TCP) or Unix
            ``SOCK_SEQPACKET`` socket; the channel owns it from now on.
        max_size: the largest message accepted (sent or received). A stream
            frame header announcing more raises FrameTooLargeError before
            anything is allocated.

    Safe for several threads: each direction (sending, receiving) is used
    by one thread at a time, for a whole message; a thread that finds it
    in use waits, and its own ``block=`` / ``timeout=`` apply to that wait
    (BlockingIOError, TimeoutError). A signal handler that calls the
    direction its thread is already in gets RuntimeError. :meth:`close`
    wakes the threads blocked in the channel (they raise ValueError). A
    channel collected unclosed warns (ResourceWarning) and closes its
    socket (without shutting it down: a fork child's copy may be dropped
    while the parent still talks on it).

    :meth:`send` and :meth:`receive` are implemented in C (the base class
    ``unixipc._core.ChannelBase``) for the common cases; everything unusual
    (descriptors, timed or non-blocking sends, oversized or truncated frames,
    end of file) is handled by this class's Python code.
    """

    socket: _socket.socket
    _fdq: deque[tuple[int, list[int]]]
    _closed: bool  # a member of ChannelBase, seen by the C code

    if TYPE_CHECKING:
        # implemented in C (ChannelBase): one thread per direction
        def _hold(self, direction: int, block: bool, timeout: float | None
                  ) -> float | None: ...

        def _unhold(self, direction: int) -> None: ...

        def _send_held(self, data: bytes | bytearray | memoryview, fds: Sequence[int] = (),
                       *, block: bool = True, timeout: float | None = None) -> None: ...

        def _receive_held(self, *, block: bool = True, timeout: float | None = None
                          ) -> Message: ...

        def _close_wait(self) -> None: ...

    if TYPE_CHECKING:
        # implemented in C (ChannelBase); declared here with precise types
        def send(self, data: bytes | bytearray | memoryview, fds: Sequence[int] = (), *,
                 block: bool = True, timeout: float | None = None) -> None: ...

        def receive(self, *, block: bool = True, timeout: float | None = None
                    ) -> Message: ...

    def __init__(self, sock: _socket.socket, *, max_size: int | None = None) -> None:
        if not isinstance(sock, _socket.socket):
            raise TypeError("sock must be a socket.socket")
        stype = sock.type
        if stype not in (_socket.SOCK_STREAM, _socket.SOCK_SEQPACKET):
            raise ValueError("MessageChannel needs a SOCK_STREAM or SOCK_SEQPACKET socket")
        self.seqpacket = stype == _socket.SOCK_SEQPACKET
        self.unix = sock.family == _socket.AF_UNIX
        if max_size is None:
            max_size = SEQPACKET_DEFAULT_MAX_SIZE if self.seqpacket else DEFAULT_MAX_SIZE
        if not isinstance(max_size, int) or max_size < 0:
            raise ValueError("max_size must be an int >= 0")
        self.max_size = max_size
        self.socket = sock
        self._fileno = sock.fileno()
        self._closed = False
        self._timeout: float | None = -1.0  # unknown: force the first settimeout
        self._set_timeout(None)
        # receive side (stream): buffered bytes are _buf[_start:_end]; _pos is
        # the stream offset of _buf[0]; _fdq holds (stream offset, fds).
        self._buf = bytearray(_READ_CHUNK if not self.seqpacket else 0)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._pos = 0
        self._fdq = deque()
        # send side: bytes of a frame not yet written (after a timeout/non-block)
        self._pending = []
        self._broken = None
        if self.seqpacket:
            try:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_PASSCRED, 1)
                want = min(2 * max_size + 4096, 8 << 20)
                if sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_SNDBUF) < want:
                    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDBUF, want // 2)
            except OSError:
                pass
        elif not self.unix:
            try:
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self._opened()

    # -- construction helpers
    @classmethod
    def pair(cls, kind: str = "stream", *, max_size: int | None = None
             ) -> tuple["MessageChannel", "MessageChannel"]:
        """Two connected channels over a Unix socketpair (``kind`` is
        "stream" or "seqpacket")."""
        a, b = _socket.socketpair(_socket.AF_UNIX, _kind(kind))
        return cls(a, max_size=max_size), cls(b, max_size=max_size)

    @property
    def max_size(self) -> int:
        """The largest message accepted (sent or received)."""
        return self._max_size

    @max_size.setter
    def max_size(self, value: int) -> None:
        if not isinstance(value, int) or value < 0:
            raise ValueError("max_size must be an int >= 0")
        self._max_size = value
        self._limit = min(value, sys.maxsize)

    # -- plumbing
    def fileno(self) -> int:
        """The socket's descriptor. Raises ValueError once closed."""
        self._check_open()
        return self._fileno

    def _set_timeout(self, t: float | None) -> None:
        if t != self._timeout:
            self.socket.settimeout(t)
            self._timeout = t

    def _arm(self, block: bool, deadline: float | None) -> None:
        if not block:
            self._set_timeout(0.0)
        elif deadline is None:
            self._set_timeout(None)
        else:
            self._set_timeout(max(0.0, deadline - time.monotonic()))

    @staticmethod
    def _deadline(block: bool, timeout: float | None) -> float | None:
        t = check_timeout(timeout)
        if not block or t is None:
            return None
        return time.monotonic() + t

    def close(self) -> None:
        """Close the socket and any received-but-unclaimed descriptors.
        Afterwards every method (fileno included) raises ValueError;
        closing again does nothing.

        Threads blocked in the channel are woken (the socket is shut down
        first, which the peer sees as the end of the stream) and raise
        ValueError; the descriptor is closed only once they are out, so
        none of them can use its number after it names another file."""
        self._closed = True
        self._close_wait()
        self._release()

    def _release(self) -> None:
        self._closed = True
        self._pending = []
        while self._fdq:
            _close_fds(self._fdq.popleft()[1])
        self.socket.close()

    def __repr__(self) -> str:
        kind = "seqpacket" if self.seqpacket else "stream"
        state = "closed" if self._closed else f"fd={self._fileno}"
        return f"<MessageChannel {kind} {state}>"

    def __enter__(self) -> "MessageChannel":
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def shutdown(self, how: int = _socket.SHUT_WR) -> None:
        """shutdown(2): SHUT_RD, SHUT_WR (the peer then gets
        ChannelClosedError after the last message) or SHUT_RDWR."""
        self._check_open()
        self.socket.shutdown(how)

    def peer_credentials(self) -> Credentials:
        """SO_PEERCRED of a Unix socket's peer."""
        self._check_open()
        if not self.unix:
            raise ValueError("peer credentials exist only on Unix sockets")
        raw = self.socket.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        pid, uid, gid = struct.unpack("3i", raw)
        return Credentials(pid, uid, gid)

    @property
    def pending(self) -> int:
        """Bytes of a partly written frame still queued in this channel."""
        return sum(len(m) for m in self._pending)

    # -- sending
    def _check_send(self, data: object, fds: Sequence[int]) -> memoryview:
        mv = memoryview(data)  # type: ignore[arg-type]
        if mv.ndim != 1 or mv.itemsize != 1:
            mv = mv.cast("B")
        if mv.nbytes > self.max_size:
            raise ValueError(f"message of {mv.nbytes} bytes exceeds max_size {self.max_size}")
        if fds:
            if not self.unix:
                raise ValueError("descriptors can only be passed over Unix sockets")
            fds = flat_list(fds, "fds")
            if len(fds) > SCM_MAX_FD:
                raise ValueError(f"at most {SCM_MAX_FD} descriptors per message")
            for fd in fds:
                check_fd(fd, "fds")
        return mv

    def _send_slow(self, data: bytes | bytearray | memoryview, fds: Sequence[int] = (), *,
                   block: bool = True, timeout: float | None = None) -> None:
        """:meth:`send` for what the C code leaves to Python: descriptors,
        block=False, a timeout, a queued partial frame, other bytes-like
        types, too large a message (the error), a closed socket. Called
        with the send direction held, ``timeout`` being the time left."""
        self._check_open()
        mv = self._check_send(data, fds)
        deadline = self._deadline(block, timeout)
        anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds).tobytes())] \
            if fds else []
        if self.seqpacket:
            self._arm(block, deadline)
            try:
                self.socket.sendmsg([mv], anc, _NOSIGNAL)
            except _socket.timeout:
                raise _timed_out("sendmsg") from None
            except OSError as exc:
                if exc.errno in (_errno.EMSGSIZE, _errno.ENOBUFS) and mv.nbytes:
                    raise MessageTooLongError(
                        exc.errno, f"sendmsg: a {mv.nbytes}-byte record is more than this "
                        "seqpacket socket accepts (SO_SNDBUF / kernel buffer limit)") from None
                raise
            return
        if self._pending:
            self._flush_first(block, deadline)
        parts = [memoryview(_pack(mv.nbytes)), mv]
        self._write(parts, anc, block, deadline)

    def send_many(self, messages: Iterable[bytes | bytearray | memoryview], *,
                  block: bool = True, timeout: float | None = None) -> int:
        """Send several messages, as few system calls as possible: over a
        stream socket one sendmsg carries up to 512 frames (1024 iovecs).
        Over seqpacket each message is its own record (one sendmsg each).
        Returns the number of messages sent; block/timeout/errors as
        :meth:`send` (no descriptors)."""
        self._check_open()
        if isinstance(messages, str) or is_bytes_like(messages):
            raise TypeError("send_many() takes a sequence of messages, not one message")
        views = [self._check_send(m, ()) for m in messages]
        check_timeout(timeout)
        left = self._hold(_SEND, block, timeout)
        try:
            deadline = self._deadline(block, left)
            if self.seqpacket:
                for mv in views:
                    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                    self._send_held(mv, block=block, timeout=remaining)
                return len(views)
            if self._pending:
                self._flush_first(block, deadline)
            for i in range(0, len(views), _IOV_MAX // 2):
                parts: list[memoryview] = []
                for mv in views[i:i + _IOV_MAX // 2]:
                    parts.append(memoryview(_pack(mv.nbytes)))
                    parts.append(mv)
                self._write(parts, [], block, deadline)
            return len(views)
        finally:
            self._unhold(_SEND)

    def flush(self, *, block: bool = True, timeout: float | None = None) -> None:
        """Write the rest of a partly written frame, if any."""
        self._check_open()
        check_timeout(timeout)
        left = self._hold(_SEND, block, timeout)
        try:
            self._flush(block, self._deadline(block, left))
        finally:
            self._unhold(_SEND)

    def _flush_first(self, block: bool, deadline: float | None) -> None:
        """:meth:`_flush` before a new message: a BlockingIOError then says
        that nothing of the new message went out (``characters_written``
        0), even if more of the earlier frame did."""
        try:
            self._flush(block, deadline)
        except BlockingIOError as exc:
            exc.characters_written = 0
            raise

    def _flush(self, block: bool, deadline: float | None) -> None:
        parts, self._pending = self._pending, []
        try:
            self._write(parts, [], block, deadline)
        except BaseException:
            # _write trims parts in place: what is left must stay pending
            # (even when nothing more went out) or the framing breaks
            if not self._pending and parts:
                self._pending = parts
            raise

    def _write(self, parts: list[memoryview], anc: list[tuple[int, int, bytes]],
               block: bool, deadline: float | None) -> None:
        total = sum(p.nbytes for p in parts)
        sent_any = False
        written = 0
        sendmsg = self.socket.sendmsg
        while True:
            self._arm(block, deadline)
            try:
                n = sendmsg(parts[:_IOV_MAX], anc, _NOSIGNAL)
            except (BlockingIOError, _socket.timeout) as exc:
                if sent_any:
                    self._pending = parts
                    if block or not isinstance(exc, BlockingIOError):
                        raise _timed_out("sendmsg") from None
                    # as io does: the frame is committed (it stays queued and
                    # is completed first by the next send or flush), so the
                    # caller must not send it again
                    exc.characters_written = written
                    raise exc from None
                if isinstance(exc, _socket.timeout) or (block and deadline is not None):
                    raise _timed_out("sendmsg") from None
                raise
            except BaseException:
                # e.g. a signal handler raised after part of the frame went
                # out: keep the rest, as the C path does, so framing survives
                if sent_any:
                    self._pending = parts
                raise
            sent_any = True
            anc = []
            written += n
            total -= n
            if total <= 0:
                return
            # drop what went out
            while n:
                first = parts[0]
                if n >= first.nbytes:
                    n -= first.nbytes
                    parts.pop(0)
                else:
                    parts[0] = first[n:]
                    n = 0

    # -- receiving
    def _receive_slow(self, *, block: bool = True, timeout: float | None = None) -> Message:
        """:meth:`receive` for what the C code leaves to Python: a buffer
        to size first, a frame header over max_size, a closed socket.
        Called with the receive direction held, ``timeout`` being the time
        left."""
        self._check_open()
        if self._broken is not None:
            raise self._broken
        deadline = self._deadline(block, timeout)
        if self.seqpacket:
            return self._receive_record(block, deadline)
        buf = self._buf
        while True:
            avail = self._end - self._start
            if avail >= _HSIZE:
                size = _unpack_from(buf, self._start)[0]
                if size > self.max_size:
                    err = FrameTooLargeError(
                        _errno.EMSGSIZE, f"recvmsg: incoming frame announces {size} bytes, "
                        f"more than max_size {self.max_size}")
                    self._broken = err
                    raise err
                if avail >= _HSIZE + size:
                    begin = self._start + _HSIZE
                    data = bytes(self._view[begin:begin + size])
                    self._start = begin + size
                    fds: tuple[int, ...] = ()
                    if self._fdq:
                        fds = self._take_fds(self._pos + self._start)
                    return Message(data, fds)
                if _HSIZE + size > len(buf) - self._start:
                    self._make_room(_HSIZE + size)
                    buf = self._buf
            elif len(buf) - self._start < _HSIZE:
                self._make_room(_HSIZE)
                buf = self._buf
            self._fill(block, deadline)

    def _take_fds(self, frame_end: int) -> tuple[int, ...]:
        out: list[int] = []
        while self._fdq and self._fdq[0][0] < frame_end:
            out.extend(self._fdq.popleft()[1])
        return tuple(out)

    def _make_room(self, need: int) -> None:
        """Move buffered bytes to the front and grow the buffer to hold
        ``need`` bytes from the frame start."""
        start, end = self._start, self._end
        size = max(_READ_CHUNK, need)
        if size > len(self._buf) or start:
            new = bytearray(size) if size > len(self._buf) else self._buf
            self._view.release()
            new[0:end - start] = self._buf[start:end]
            self._buf = new
            self._view = memoryview(new)
            self._pos += start
            self._start = 0
            self._end = end - start

    def _fill(self, block: bool, deadline: float | None) -> None:
        if self._start == self._end:
            # empty: rewind so a small frame never needs a move
            self._pos += self._start
            self._start = self._end = 0
        self._arm(block, deadline)
        end = self._end
        target = self._view[end:] if end else self._view
        anc: list[tuple[int, int, bytes]] | None = None
        flags = 0
        try:
            if self.unix:
                n, anc, flags, _ = self.socket.recvmsg_into([target], _ANCBUF, _CLOEXEC)
            else:
                n = self.socket.recv_into(target)
        except _socket.timeout:
            raise _timed_out("recvmsg") from None
        except BlockingIOError:
            if block:  # timeout=0
                raise _timed_out("recvmsg") from None
            raise
        finally:
            if end:
                target.release()
        self._took(n, anc, flags)

    def _took(self, n: int, anc: list[tuple[int, int, bytes]] | None, flags: int) -> None:
        """Account for ``n`` bytes just read to ``_buf[_end:]`` with their
        ancillary data; end of file raises."""
        if anc:
            fds, _ = _fds_from(anc)
            if fds:
                # the kernel hands the descriptors over with the read that
                # reaches their skb and stops in it: they belong to the frame
                # holding this read's last byte.
                self._fdq.append((self._pos + self._end + n - 1, fds))
            if flags & _CTRUNC:
                raise OSError(_errno.EMSGSIZE, "recvmsg: ancillary data truncated")
        if n == 0:
            avail = self._end - self._start
            if avail == 0:
                raise ChannelClosedError("peer closed the channel")
            expected = _unpack_from(self._buf, self._start)[0] if avail >= _HSIZE else None
            err = IncompleteMessageError(avail, expected)
            self._broken = err
            raise err
        self._end += n

    def _receive_record(self, block: bool, deadline: float | None) -> Message:
        if len(self._buf) < self.max_size + 1:
            self._view.release()
            self._buf = bytearray(self.max_size + 1)
            self._view = memoryview(self._buf)
        self._arm(block, deadline)
        try:
            n, anc, flags, _ = self.socket.recvmsg_into([self._view], _ANCBUF, _RECORD_FLAGS)
        except _socket.timeout:
            raise _timed_out("recvmsg") from None
        except BlockingIOError:
            if block:
                raise _timed_out("recvmsg") from None
            raise
        return self._record(n, anc, flags)

    def _record(self, n: int, anc: list[tuple[int, int, bytes]], flags: int) -> Message:
        """The message from one seqpacket recvmsg (n bytes in ``_buf``)."""
        fds, creds = _fds_from(anc) if anc else ([], False)
        if n == 0 and not creds and not fds:
            raise ChannelClosedError("peer closed the channel")
        if flags & _EITHER_TRUNC or n > self.max_size:
            # (the buffer holds max_size + 1 bytes, so a record of exactly
            # max_size + 1 arrives whole, without MSG_TRUNC)
            _close_fds(fds)
            raise MessageTooLongError(
                _errno.EMSGSIZE, f"recvmsg: a {n}-byte record is longer than max_size "
                f"{self.max_size}; it was dropped" if n > self.max_size
                else "recvmsg: ancillary data truncated")
        return _new_message((bytes(self._view[:n]), tuple(fds)))

    # -- async twins
    # Each step holds its direction for one non-blocking attempt, never
    # across an await; while another thread holds it, the twin polls.
    async def receive_async(self) -> Message:
        """Await one message (asyncio). Cancelling loses nothing: partial
        frames stay buffered in the channel. Errors as :meth:`receive`."""
        self._check_open()
        loop = asyncio.get_running_loop()
        while True:
            try:
                self._hold(_RECEIVE, False, None)
            except BlockingIOError:  # another thread is receiving
                await asyncio.sleep(_BUSY_POLL)
                continue
            try:
                return self._receive_held(block=False)
            except BlockingIOError:
                pass
            finally:
                self._unhold(_RECEIVE)
            await _wait_fd(loop, self._fileno, readable=True)

    async def send_async(self, data: bytes | bytearray | memoryview,
                         fds: Sequence[int] = ()) -> None:
        """Send one message without blocking the event loop. Once any byte
        of a frame is written the frame is completed (also if the await is
        cancelled, by the next send or :meth:`flush`). Errors as :meth:`send`."""
        self._check_open()
        self._check_send(data, fds)
        loop = asyncio.get_running_loop()
        committed = False  # our frame is (partly) written
        while True:
            try:
                self._hold(_SEND, False, None)
            except BlockingIOError:  # another thread is sending
                await asyncio.sleep(_BUSY_POLL)
                continue
            try:
                done, committed = self._send_step(data, fds, committed)
            finally:
                self._unhold(_SEND)
            if done:
                return
            await _wait_fd(loop, self._fileno, readable=False)

    def _send_step(self, data: bytes | bytearray | memoryview, fds: Sequence[int],
                   committed: bool) -> tuple[bool, bool]:
        """One non-blocking attempt of send_async, the send direction held:
        (done, committed)."""
        if self._pending:
            try:
                self._flush(False, None)
            except BlockingIOError:
                return False, committed
        if committed:
            return True, True
        try:
            self._send_held(data, fds, block=False)
        except BlockingIOError:
            return False, bool(self._pending)
        return True, True


async def _wait_fd(loop: asyncio.AbstractEventLoop, fd: int, readable: bool) -> None:
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    if readable:
        loop.add_reader(fd, ready)
    else:
        loop.add_writer(fd, ready)
    try:
        await fut
    finally:
        if readable:
            loop.remove_reader(fd)
        else:
            loop.remove_writer(fd)


# ---- listen / connect -------------------------------------------------------

_INT_MAX = 2**31 - 1


def _backlog(backlog: int | None) -> int:
    """The listen(2) backlog rules: None means SOMAXCONN; a value above the
    maximum is capped (the kernel caps at net.core.somaxconn, we only keep
    it within a C int); 0 asks for the system's minimum (Linux still queues
    one connection); a negative value counts as 0."""
    if backlog is None:
        return _socket.SOMAXCONN
    if not isinstance(backlog, int) or isinstance(backlog, bool):
        raise TypeError(f"backlog must be int or None, not {type(backlog).__name__}")
    return min(max(backlog, 0), _INT_MAX)


def _bind_unix_with_mode(sock: _socket.socket, path: str, mode: int) -> None:
    """Bind ``sock`` to the file ``path`` with permissions ``mode`` without
    touching the process-wide umask (other threads keep theirs): bind in a
    fresh private (0o700) directory next to ``path``, chmod the socket file
    there, then hard-link it into place, which never replaces an existing
    file (that stays OSError EADDRINUSE, as from bind(2))."""
    tmpdir = tempfile.mkdtemp(prefix=".u", dir=os.path.dirname(path) or ".")
    try:
        tmp = os.path.join(tmpdir, "s")
        sock.bind(tmp)
        os.chmod(tmp, mode & 0o7777)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise OSError(_errno.EADDRINUSE, os.strerror(_errno.EADDRINUSE), path) from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


class Listener(ClosableResource):
    """A listening socket that accepts MessageChannels. A Unix socket file it
    created is removed by :meth:`close`, and by the collection of a
    listener left unclosed (which warns, ResourceWarning) in the process
    that made it."""

    def __init__(self, address: str, *, kind: str = "stream", backlog: int | None = None,
                 max_size: int | None = None, mode: int | None = 0o600) -> None:
        family, addr = parse_address(address)
        stype = _kind(kind)
        if stype == _socket.SOCK_SEQPACKET and family != _socket.AF_UNIX:
            raise ValueError("seqpacket channels are Unix sockets only")
        backlog = _backlog(backlog)
        self.max_size = max_size
        self._path: str | None = None
        self._closed = False
        sock = _socket.socket(family, stype)
        try:
            if family != _socket.AF_UNIX:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            elif stype == _socket.SOCK_SEQPACKET:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_PASSCRED, 1)
            if isinstance(addr, str) and family == _socket.AF_UNIX and mode is not None:
                _bind_unix_with_mode(sock, addr, mode)
            else:
                sock.bind(addr)
            if isinstance(addr, str):
                self._path = addr
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        self.socket = sock
        self.address = address
        if family != _socket.AF_UNIX:
            host, port = sock.getsockname()[:2]
            self.address = f"tcp:[{host}]:{port}" if ":" in host else f"tcp:{host}:{port}"
        self._opened()

    def fileno(self) -> int:
        """The listening socket's descriptor. Raises ValueError once closed."""
        self._check_open()
        return self.socket.fileno()

    def accept(self, *, block: bool = True, timeout: float | None = None) -> MessageChannel:
        """Accept one connection.

        Raises:
            BlockingIOError: block=False and nobody is waiting.
            TimeoutError: nobody connected within ``timeout``.
        """
        self._check_open()
        t = check_timeout(timeout)
        self.socket.settimeout(0.0 if not block else t)
        try:
            conn, _ = self.socket.accept()
        except _socket.timeout:
            raise _timed_out("accept") from None
        except BlockingIOError:
            if block:
                raise _timed_out("accept") from None
            raise
        conn.settimeout(None)
        return MessageChannel(conn, max_size=self.max_size)

    def close(self) -> None:
        """Close the socket and remove the socket file it created. Then
        fileno and accept raise ValueError; closing again does nothing."""
        self._closed = True
        self.socket.close()
        if self._path is not None:
            try:
                os.unlink(self._path)
            except FileNotFoundError:
                pass
            self._path = None

    def _release(self) -> None:
        if self._owner_pid != os.getpid():
            self._path = None  # the socket file is the parent's to remove
        self.close()

    def __repr__(self) -> str:
        return f"<Listener {self.address}{' closed' if self._closed else ''}>"

    def __enter__(self) -> "Listener":
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def listen(address: str, *, kind: str = "stream", backlog: int | None = None,
           max_size: int | None = None, mode: int | None = 0o600) -> Listener:
    """Bind and listen on ``"unix:/path"``, ``"unix:@name"`` or
    ``"tcp:host:port"`` (port 0 picks a free port; see ``.address``).

    ``backlog`` follows the listen(2) rules: None means SOMAXCONN, a larger
    value is capped (by the kernel, at ``net.core.somaxconn``), 0 asks for
    the system's minimum (Linux then queues one unaccepted connection) and a
    negative value counts as 0. A Unix socket file is created with ``mode``
    (0o600 by default) and removed by ``Listener.close``; an existing file is
    not replaced (FileExistsError / OSError EADDRINUSE).
    """
    return Listener(address, kind=kind, backlog=backlog, max_size=max_size, mode=mode)


def connect(address: str, *, kind: str = "stream", timeout: float | None = None,
            max_size: int | None = None) -> MessageChannel:
    """Connect to a listening address and return a channel.

    Blocks until the connection is made: the TCP handshake, or, on a Unix
    socket whose listener's backlog is full, until the listener accepts
    someone (``timeout`` None: forever; 0: one attempt). Signals are
    handled while waiting and the wait goes on with the time left.

    Raises:
        TimeoutError: not connected within ``timeout`` (TCP handshake, or a
            full Unix listen backlog).
        ConnectionRefusedError, FileNotFoundError: nobody listens there.
    """
    family, addr = parse_address(address)
    stype = _kind(kind)
    if stype == _socket.SOCK_SEQPACKET and family != _socket.AF_UNIX:
        raise ValueError("seqpacket channels are Unix sockets only")
    t = check_timeout(timeout)
    sock = _socket.socket(family, stype)
    try:
        if stype == _socket.SOCK_SEQPACKET:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_PASSCRED, 1)
        if family == _socket.AF_UNIX:
            _connect_unix(sock, addr, t)
        else:
            sock.settimeout(t)
            try:
                sock.connect(addr)
            except _socket.timeout:
                raise _timed_out("connect") from None
            sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return MessageChannel(sock, max_size=max_size)


_TIMEVAL = struct.Struct("@ll")


def _connect_unix(sock: _socket.socket, addr: object, timeout: float | None) -> None:
    """connect(2) on a Unix socket, waiting at most ``timeout`` for room in
    a full listen backlog.

    A non-blocking Unix connect does not go "in progress" (it fails with
    EAGAIN at once when the backlog is full), so the socket module's timeout
    cannot bound this wait; a blocking connect sleeps in the kernel for at
    most SO_SNDTIMEO instead, and then fails with EAGAIN. A connect cut by
    a signal (the handler has run by then) is made again with the time left:
    the socket module reports an interrupted connect as done, so whether it
    is connected is checked with getpeername."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            if deadline is None:
                sock.setblocking(True)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    sock.setblocking(False)  # one attempt
                else:
                    sock.setblocking(True)
                    sec = int(left)
                    usec = int((left - sec) * 1e6)
                    if sec == 0 and usec == 0:
                        usec = 1  # a zero timeval would mean "forever"
                    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDTIMEO,
                                    _TIMEVAL.pack(sec, usec))
            try:
                sock.connect(addr)  # type: ignore[arg-type]
            except BlockingIOError:
                raise _timed_out("connect") from None
            try:
                sock.getpeername()
                return
            except OSError as exc:
                if exc.errno != _errno.ENOTCONN:
                    raise
    finally:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDTIMEO, _TIMEVAL.pack(0, 0))
        sock.setblocking(True)
