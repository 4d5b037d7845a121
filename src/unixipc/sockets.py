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

import errno as _errno
import os
import shutil
import socket as _socket
import struct
import tempfile
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from . import _core
from ._timeouts import Deadline, check_timeout
from ._wait import retry_when_ready, wait_readable_async, wait_writable_async
from ._closable import ClosableResource
from .errors import ChannelClosedError, IPCError, MessageTooLongError

__all__ = [
    "ChannelMessage", "MessageChannel", "Listener", "Credentials",
    "ChannelClosedError", "IncompleteMessageError", "FrameTooLargeError",
    "listen", "connect", "connect_async", "parse_address",
    "DEFAULT_MAX_SIZE", "SEQPACKET_DEFAULT_MAX_SIZE", "SCM_MAX_FD",
]

#: Largest frame a stream channel accepts unless told otherwise (64 MiB).
DEFAULT_MAX_SIZE = 64 << 20
#: Largest message a seqpacket channel accepts unless told otherwise (4 MiB):
#: Linux allocates one record in one kernel buffer, so a record much beyond
#: 4 MiB fails with ENOBUFS whatever SO_SNDBUF says.
SEQPACKET_DEFAULT_MAX_SIZE = 4 << 20
#: The kernel's limit on descriptors in one SCM_RIGHTS message.
SCM_MAX_FD = 253

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


class ChannelMessage(NamedTuple):
    """One received message: its bytes and the descriptors that came with
    it (owned by the receiver, close-on-exec; close them when done)."""

    data: bytes
    fds: tuple[int, ...] = ()


_core._sock_set_types(ChannelMessage, ChannelClosedError, IncompleteMessageError,
                      FrameTooLargeError, MessageTooLongError)


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

    The framing (:meth:`send`, :meth:`send_many`, :meth:`flush`,
    :meth:`receive`, ``pending``, ``max_size``) is implemented in C, in the
    base class ``unixipc._core.ChannelBase``, which owns its whole state:
    the unsent rest of a frame, the receive buffer and the received
    descriptors. This class sets it up and adds the conveniences.
    """

    socket: _socket.socket
    _closed: bool  # a member of ChannelBase, seen by the C code

    if TYPE_CHECKING:
        # implemented in C (ChannelBase): one thread per direction
        def _hold(self, direction: int, block: bool, timeout: float | None
                  ) -> float | None: ...

        def _unhold(self, direction: int) -> None: ...

        def _send_held(self, data: bytes | bytearray | memoryview, fds: Sequence[int] = (),
                       *, block: bool = True, timeout: float | None = None) -> None: ...

        def _flush_held(self, *, block: bool = True, timeout: float | None = None) -> None: ...

        def _receive_held(self, *, block: bool = True, timeout: float | None = None
                          ) -> ChannelMessage: ...

        def _close_wait(self) -> None: ...

    if TYPE_CHECKING:
        # implemented in C (ChannelBase); declared here with precise types
        def send(self, data: bytes | bytearray | memoryview, fds: Sequence[int] = (), *,
                 block: bool = True, timeout: float | None = None) -> None: ...

        def receive(self, *, block: bool = True, timeout: float | None = None
                    ) -> ChannelMessage: ...

    def __init__(self, sock: _socket.socket, *, max_size: int | None = None) -> None:
        if not isinstance(sock, _socket.socket):
            raise TypeError("sock must be a socket.socket")
        stype = sock.type
        if stype not in (_socket.SOCK_STREAM, _socket.SOCK_SEQPACKET):
            raise ValueError("MessageChannel needs a SOCK_STREAM or SOCK_SEQPACKET socket")
        seqpacket = stype == _socket.SOCK_SEQPACKET
        if max_size is None:
            max_size = SEQPACKET_DEFAULT_MAX_SIZE if seqpacket else DEFAULT_MAX_SIZE
        if not isinstance(max_size, int) or isinstance(max_size, bool):
            raise TypeError(f"max_size must be an int, not {type(max_size).__name__}")
        if max_size < 0:
            raise ValueError("max_size must be an int >= 0")
        self._setup(sock, seqpacket, sock.family == _socket.AF_UNIX, max_size)
        self._fileno = sock.fileno()
        self._closed = False
        # the C calls wait themselves: a blocking descriptor saves them a poll
        sock.settimeout(None)
        if seqpacket:
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

    # -- plumbing
    def fileno(self) -> int:
        """The socket's descriptor. Raises ValueError once closed."""
        self._check_open()
        return self._fileno

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
        # Also what a collection does: no shutdown (a fork child's copy must
        # not end the parent's stream); the C base drops the framing state
        # (the pending rest, unclaimed descriptors) when the object goes.
        self._closed = True
        self.socket.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # The socket travels through multiprocessing's descriptor passing,
        # so a channel reaches spawn and forkserver children too. Only a
        # channel between messages can: bytes of a frame buffered or left
        # unsent here, or descriptors received and not yet claimed, would
        # be lost to the copy and break the framing.
        self._check_open()
        state = self._state()
        if state["buffered"] or state["pending"] or state["queued_fds"]:
            raise TypeError(f"cannot pickle {self!r} in the middle of a message "
                            f"({state['buffered']} bytes received, {state['pending']} unsent, "
                            f"{state['queued_fds']} descriptors unclaimed)")
        from multiprocessing import reduction
        return (_rebuild_channel, (reduction.DupFd(self._fileno), self.max_size))

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

    # -- async twins
    # Each step holds its direction for one non-blocking attempt, never
    # across an await; while another thread holds it, the twin polls.
    async def receive_async(self, *, block: bool = True,
                            timeout: float | None = None) -> ChannelMessage:
        """The async twin of :meth:`receive`, with the same arguments and
        errors: awaits one message, the task waiting in the event loop.
        ``block=False`` makes the one attempt ``receive(block=False)``
        makes (BlockingIOError when no whole message is there, or another
        thread is receiving); TimeoutError after ``timeout`` seconds.
        Cancelling loses nothing: partial frames stay buffered in the
        channel, and a message is only taken by an attempt that returns it."""
        self._check_open()
        deadline = Deadline(timeout)
        if not block:
            return self.receive(block=False)
        while True:
            try:
                self._hold(_RECEIVE, False, None)
            except BlockingIOError:  # another thread is receiving
                await _busy_wait(deadline, "recvmsg")
                continue
            try:
                return self._receive_held(block=False)
            except BlockingIOError:
                pass
            finally:
                self._unhold(_RECEIVE)
            if not await wait_readable_async(self._fileno, deadline):
                raise _timed_out("recvmsg")

    async def send_async(self, data: bytes | bytearray | memoryview,
                         fds: Sequence[int] = (), *, block: bool = True,
                         timeout: float | None = None) -> None:
        """The async twin of :meth:`send`, with the same arguments and
        errors: sends one message without blocking the event loop.
        ``block=False`` makes the one attempt ``send(block=False)`` makes.
        Once any byte of a frame is written the frame is completed (also if
        the await is cancelled or times out, by the next send or
        :meth:`flush`), so the framing survives."""
        self._check_open()
        deadline = Deadline(timeout)
        if not block:
            self.send(data, fds, block=False)
            return
        self._check_send(data, fds)
        committed = False  # our frame is (partly) written
        while True:
            try:
                self._hold(_SEND, False, None)
            except BlockingIOError:  # another thread is sending
                await _busy_wait(deadline, "sendmsg")
                continue
            try:
                done, committed = self._send_step(data, fds, committed)
            finally:
                self._unhold(_SEND)
            if done:
                return
            if not await wait_writable_async(self._fileno, deadline):
                raise _timed_out("sendmsg")

    def _send_step(self, data: bytes | bytearray | memoryview, fds: Sequence[int],
                   committed: bool) -> tuple[bool, bool]:
        """One non-blocking attempt of send_async, the send direction held:
        (done, committed)."""
        if self.pending:
            try:
                self._flush_held(block=False)
            except BlockingIOError:
                return False, committed
        if committed:
            return True, True
        try:
            self._send_held(data, fds, block=False)
        except BlockingIOError:
            return False, bool(self.pending)
        return True, True


def _rebuild_channel(dupfd: Any, max_size: int) -> MessageChannel:
    return MessageChannel(_socket.socket(fileno=dupfd.detach()), max_size=max_size)


async def _busy_wait(deadline: Deadline, call: str) -> None:
    """Sleep a little while another thread holds the direction an async
    twin needs (a thread gives no readiness to wait for); TimeoutError
    once ``deadline`` passed."""
    left = deadline.remaining()
    if left == 0:
        raise _timed_out(call)
    import asyncio  # not at import time (see _aio)
    await asyncio.sleep(_BUSY_POLL if left is None else min(_BUSY_POLL, left))


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

    async def accept_async(self, *, block: bool = True,
                           timeout: float | None = None) -> MessageChannel:
        """The async twin of :meth:`accept`, with the same arguments and
        errors: the task waits in the event loop until someone connects.
        ``block=False`` makes :meth:`accept`'s one attempt. Cancelling
        loses no connection: one is only taken by an accept made after the
        wait, in the same step, and it is returned."""
        self._check_open()
        deadline = Deadline(timeout)
        if not block:
            return self.accept(block=False)
        return await retry_when_ready(lambda: self.accept(block=False), self.fileno,
                                      deadline, "accept")

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


def _client_address(address: str, kind: str) -> tuple[int, int, str | bytes | tuple[str, int]]:
    """(family, socket type, address) for connecting to ``address``;
    ValueError for seqpacket over TCP."""
    family, addr = parse_address(address)
    stype = _kind(kind)
    if stype == _socket.SOCK_SEQPACKET and family != _socket.AF_UNIX:
        raise ValueError("seqpacket channels are Unix sockets only")
    return family, stype, addr


def _client_socket(family: int, stype: int) -> _socket.socket:
    """A new socket to connect (seqpacket ones pass credentials, which
    tells an empty record from end of file)."""
    sock = _socket.socket(family, stype)
    if stype == _socket.SOCK_SEQPACKET:
        try:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_PASSCRED, 1)
        except BaseException:
            sock.close()
            raise
    return sock


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
    family, stype, addr = _client_address(address, kind)
    t = check_timeout(timeout)
    sock = _client_socket(family, stype)
    try:
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


async def connect_async(address: str, *, kind: str = "stream", timeout: float | None = None,
                        max_size: int | None = None) -> MessageChannel:
    """The async twin of :func:`connect`, with the same arguments and
    errors: the task waits in the event loop for the connection.

    A TCP connect is started without blocking and awaited until the socket
    is writable (the handshake is done). A Unix connect succeeds or fails
    at once unless the listener's backlog is full; then there is nothing
    an event loop could wait on, so the rest of the wait (bounded by
    ``timeout``) runs as the blocking :func:`connect` does, in the loop's
    default executor. Cancelling the task stops waiting at once and closes
    the socket (after that worker returns, if one runs: without a timeout
    it waits for the listener to accept someone).
    """
    family, stype, addr = _client_address(address, kind)
    deadline = Deadline(timeout)
    sock = _client_socket(family, stype)
    owned = True  # False when a cancelled worker thread still uses the socket
    try:
        sock.setblocking(False)
        if family == _socket.AF_UNIX:
            try:
                sock.connect(addr)
            except BlockingIOError:  # a full backlog
                if deadline.expired:
                    raise _timed_out("connect") from None
                worker = _UnixConnect(sock, addr, deadline.remaining())
                import asyncio  # not at import time (see _aio)
                work = asyncio.get_running_loop().run_in_executor(None, worker.run)
                try:
                    await asyncio.shield(work)
                finally:
                    owned = not worker.abandon()
                    if not owned:  # its outcome is nobody's now: not "never retrieved"
                        work.add_done_callback(lambda f: f.cancelled() or f.exception())
        else:
            err = sock.connect_ex(addr)
            if err in (_errno.EINPROGRESS, _errno.EAGAIN):
                if not await wait_writable_async(sock.fileno(), deadline):
                    raise _timed_out("connect")
                err = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
            if err:
                raise OSError(err, f"connect: {os.strerror(err)}")
        sock.setblocking(True)
    except BaseException:
        if owned:
            sock.close()
        raise
    return MessageChannel(sock, max_size=max_size)


class _UnixConnect:
    """The blocking part of :func:`connect_async` on a Unix socket, run in
    a worker thread. If the awaiting task gives up first (cancelled) the
    worker closes the socket itself when its connect returns: the loop
    may be gone by then."""

    def __init__(self, sock: _socket.socket, addr: object, timeout: float | None) -> None:
        self._sock = sock
        self._addr = addr
        self._timeout = timeout
        self._lock = threading.Lock()
        self._done = False
        self._abandoned = False

    def run(self) -> None:
        try:
            _connect_unix(self._sock, self._addr, self._timeout)
        finally:
            with self._lock:
                self._done = True
                if self._abandoned:
                    self._sock.close()

    def abandon(self) -> bool:
        """Called once the task stops waiting: True when the worker still
        runs and now owns the socket (it closes it), False when it is done
        and the caller keeps the socket."""
        with self._lock:
            self._abandoned = not self._done
            return self._abandoned


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
    deadline = Deadline(timeout)
    try:
        while True:
            left = deadline.remaining()
            if left is None:
                sock.setblocking(True)
            else:
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
