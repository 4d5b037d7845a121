"""Anonymous pipes and popen/pclose.

A pipe is a one-way byte stream kept by the kernel: what the writer end
writes, the reader end reads, in order. The rules that matter:

- A read returns what is there (at most ``size`` bytes); it blocks while the
  pipe is empty and a writer exists; it returns ``b""`` (end of file) once
  every writer has closed.
- A write of at most :data:`PIPE_BUF` bytes is atomic: it is never
  interleaved with other writers' data. Larger writes may be.
- Writing when no reader is left raises :class:`BrokenPipeError`. unixipc
  never lets the SIGPIPE that goes with it kill the process (see
  :meth:`PipeWriter.write`).
- The pipe holds :attr:`Pipe.capacity` bytes (64 KiB by default on Linux);
  a writer blocks when it is full.
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import signal
import time
from typing import IO, Any, Iterable, Iterator, Literal, TypeVar

from . import _core
from ._timeouts import Deadline
from ._wait import retry_when_ready, wait_readable
from ._closable import Closable, ClosableResource
from .errors import error_from_errno

__all__ = ["PIPE_BUF", "Pipe", "PipeReader", "PipeWriter", "PopenFile", "popen", "pclose"]

#: The largest write the kernel guarantees to be atomic on a pipe or FIFO
#: (4096 on Linux). Not the pipe's size: see :attr:`Pipe.capacity`.
PIPE_BUF: int = _core.PIPE_BUF

#: Signals a started command gets back at their default action: Python
#: ignores them at startup, and exec keeps a signal ignored, so ``yes |
#: head -1`` would end with "Broken pipe" errors instead of quietly.
_CHILD_DEFAULT_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name))

_F_GETPIPE_SZ: int = getattr(fcntl, "F_GETPIPE_SZ", 1032)
_F_SETPIPE_SZ: int = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class _PipeEnd(_core.PipeEnd, ClosableResource):
    """Shared base of the two ends. The descriptor and the hot ``read`` /
    ``write`` live in the C base (:class:`unixipc._core.PipeEnd`), and so
    does ``closed``; this class adds the file-object conveniences. The
    descriptor is forgotten (-1) on close, so stale use raises ValueError
    and can never reach a descriptor number the process has since reused.
    An end collected unclosed warns (ResourceWarning), as a file does.
    Registered as an :class:`io.RawIOBase`."""

    mode: str = ""

    def __init__(self, fd: int, *, name: str | None = None) -> None:
        super().__init__(fd)
        self.name: str | int = fd if name is None else name
        self._opened()

    # -- io.RawIOBase protocol ------------------------------------------------------

    def close(self) -> None:
        """Close this end (idempotent). The other end sees EOF (reader) or
        BrokenPipeError (writer) once every copy of this end is closed."""
        self._close_fd()

    def detach(self) -> int:
        """Give up ownership: return the descriptor, leave it open."""
        return self._detach_fd()

    def __reduce__(self) -> tuple[Any, ...]:
        # The descriptor travels through multiprocessing's descriptor
        # passing (a copy the child owns), so an end reaches spawn and
        # forkserver children too; a named end keeps its name.
        from multiprocessing import reduction
        fd = self.fileno()  # ValueError once closed
        name = self.name if isinstance(self.name, str) else None
        return (_rebuild_end, (type(self), reduction.DupFd(fd), name))

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def isatty(self) -> bool:
        return os.isatty(self.fileno())

    def flush(self) -> None:
        """Nothing to flush (unbuffered); ValueError once closed."""
        self.fileno()

    def tell(self) -> int:
        raise io.UnsupportedOperation("pipes are not seekable")

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation("pipes are not seekable")

    def __enter__(self: _E) -> _E:
        self.fileno()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self.fileno()}"
        return f"<{type(self).__name__} name={self.name!r} {state}>"

    # -- pipe specifics -------------------------------------------------------------

    @property
    def nonblocking(self) -> bool:
        """Whether the descriptor is in O_NONBLOCK mode (shared with every
        process holding the same open file description)."""
        return not os.get_blocking(self.fileno())

    @nonblocking.setter
    def nonblocking(self, value: bool) -> None:
        os.set_blocking(self.fileno(), not value)

    @property
    def capacity(self) -> int:
        """The pipe's buffer size in bytes (F_GETPIPE_SZ); see
        :attr:`Pipe.capacity`."""
        return _get_capacity(self.fileno())

    @capacity.setter
    def capacity(self, size: int) -> None:
        _set_capacity(self.fileno(), size)

    def set_inheritable(self, inheritable: bool) -> None:
        """Clear (True) or set (False) close-on-exec, to hand this end to a
        program started with exec (``subprocess`` does it for ``pass_fds``)."""
        os.set_inheritable(self.fileno(), inheritable)


_E = TypeVar("_E", bound=_PipeEnd)


class PipeReader(_PipeEnd):
    """The read end of a pipe or FIFO: a binary, unbuffered file object
    (an :class:`io.RawIOBase`) with ``block=``/``timeout=`` on :meth:`read`.

    ``read(size=-1, /, *, block=True, timeout=None) -> bytes`` reads at most
    ``size`` bytes (one read(2)); ``-1``/None reads until end of file.
    It blocks while the pipe is empty and a writer exists. ``block=False``
    makes one attempt that does not wait; ``timeout`` bounds the wait in
    seconds (None: forever), also when other processes read the same pipe
    (every waiter wakes, one wins the data, the others wait again with the
    time left). Signals are retried (EINTR never escapes). It
    returns ``b""`` at end of file (every writer closed) and raises
    BlockingIOError when there is no data yet but a writer exists and the
    call may not wait (``block=False`` or a non-blocking end), TimeoutError
    when ``timeout`` ran out, ValueError once the end is closed (also when
    code that runs during the call, such as a signal handler or an
    argument's ``__index__``, closes it: the call never goes on with a
    number that may name another file by then). A ``size`` larger than the
    pipe's capacity reads what is there (the buffer is not ``size`` bytes);
    ValueError for one beyond ``sys.maxsize``.
    """

    mode = "rb"

    def readable(self) -> bool:
        self.fileno()
        return True

    def readall(self, *, block: bool = True, timeout: float | None = None) -> bytes:
        """Read until end of file (every writer closed). ``timeout`` bounds
        the whole call (TimeoutError; what was read so far is lost)."""
        deadline = Deadline(timeout)
        parts: list[bytes] = []
        while True:
            chunk = self.read(65536, block=block, timeout=deadline.remaining())
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)

    async def read_async(self, size: int = -1, /, *, block: bool = True,
                         timeout: float | None = None) -> bytes:
        """The async twin of ``read``, with the same arguments: waits in the
        event loop (add_reader) instead of blocking the thread. At most
        ``size`` bytes (``-1``: until end of file); ``b""`` at end of file;
        TimeoutError after ``timeout`` seconds; ``block=False`` makes the
        one attempt ``read(block=False)`` makes (BlockingIOError when there
        is nothing yet). Cancelling it loses no data: bytes are only taken
        by a read(2) made after the wait, in the same step. One waiter per
        end at a time (the loop keeps one callback per descriptor). Use a
        non-blocking end when several processes read the same pipe: then a
        reader that lost the race waits again instead of blocking."""
        deadline = Deadline(timeout)
        if not block:
            return self.read(size, block=False)
        if size is None or size < 0:
            parts: list[bytes] = []
            while True:
                chunk = await self.read_async(65536, timeout=deadline.remaining())
                if not chunk:
                    return b"".join(parts)
                parts.append(chunk)
        return await retry_when_ready(lambda: self.read(size, block=False), self.fileno,
                                      deadline, "read")

    def readinto(self, buffer: Any, /) -> int:
        """Read into a writable buffer (one blocking read); returns the
        count, 0 at end of file."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[:len(data)] = data
        return len(data)

    def read_exactly(self, size: int, *, timeout: float | None = None) -> bytes:
        """Read exactly ``size`` bytes. EOFError if the writers close first;
        TimeoutError if ``timeout`` (for the whole call) runs out."""
        deadline = Deadline(timeout)
        parts: list[bytes] = []
        got = 0
        while got < size:
            chunk = self.read(size - got, timeout=deadline.remaining())
            if not chunk:
                raise EOFError(f"end of file after {got} of {size} bytes")
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def readline(self, size: int | None = -1, /) -> bytes:
        """One line (up to and including b"\\n"), read a byte at a time so
        nothing after it is consumed; b"" at end of file."""
        limit = -1 if size is None else size
        line = bytearray()
        while limit < 0 or len(line) < limit:
            b = self.read(1)
            if not b:
                break
            line += b
            if b == b"\n":
                break
        return bytes(line)

    def readlines(self, hint: int = -1, /) -> list[bytes]:
        return list(self)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class PipeWriter(_PipeEnd):
    """The write end of a pipe or FIFO: a binary, unbuffered file object
    (an :class:`io.RawIOBase`) whose writes never kill the process with
    SIGPIPE.

    ``write(data, /, *, block=True, timeout=None) -> int`` writes all of
    ``data`` (a bytes-like object) and returns its length. It blocks while
    the pipe is full. On a non-blocking end, or with ``block=False``, it
    writes what fits without waiting and returns that count. ``timeout``
    bounds the wait in seconds (None: forever), also when other processes
    compete for the space: after the wait the write is made with
    RWF_NOWAIT, so it never blocks past the timeout.

    SIGPIPE: if no reader is left the kernel fails the write with EPIPE and
    sends SIGPIPE to the writing thread. When SIGPIPE's action is the
    default (terminate), unixipc blocks SIGPIPE in this thread for the
    duration of the write and consumes the signal the write caused; when it
    is ignored (Python's default) or handled, nothing needs doing. The
    program's disposition is never changed. You get BrokenPipeError.

    Raises (write): BrokenPipeError when no reader is left
    (``characters_written`` says how much went before); BlockingIOError
    when nothing could be written without waiting; TimeoutError when
    ``timeout`` ran out (``characters_written`` set when part of ``data``
    was written); ValueError once the end is closed, also by a signal
    handler or an argument's ``__float__``/``__bool__`` during the call
    (nothing more is written to the number, which may name another file
    by then).
    """

    mode = "wb"

    def writable(self) -> bool:
        self.fileno()
        return True

    def write_record(self, data: Any, /, *, block: bool = True,
                     timeout: float | None = None) -> int:
        """Write ``data`` as one atomic record: never interleaved with other
        writers' data, because it is at most PIPE_BUF bytes and goes in one
        write(2).

        Raises:
            ValueError: ``data`` is longer than PIPE_BUF (before any write).
            BrokenPipeError, BlockingIOError, TimeoutError: as ``write``.
        """
        n = memoryview(data).nbytes
        if n > PIPE_BUF:
            raise ValueError(f"record of {n} bytes is larger than PIPE_BUF ({PIPE_BUF}): "
                             "it could be interleaved with other writers' data")
        return self.write(data, block=block, timeout=timeout)

    async def write_async(self, data: Any, /, *, block: bool = True,
                          timeout: float | None = None) -> int:
        """The async twin of ``write``, with the same arguments: writes all
        of ``data``, waiting in the event loop (add_writer) while the pipe
        is full; returns its length. ``block=False`` makes the one attempt
        ``write(block=False)`` makes (what fits goes, its count is
        returned; BlockingIOError when nothing fits). BrokenPipeError when
        no reader is left; TimeoutError after ``timeout`` seconds
        (``characters_written`` says how much went). If cancelled, part of
        ``data`` may have been written."""
        deadline = Deadline(timeout)
        if not block:
            return self.write(data, block=False)
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            try:
                done += await retry_when_ready(lambda: self.write(view[done:], block=False),
                                               self.fileno, deadline, "write", writable=True)
            except TimeoutError as exc:
                exc.characters_written = done  # type: ignore[attr-defined]
                raise
        return done

    def writelines(self, lines: Iterable[Any], /) -> None:
        for line in lines:
            self.write(line)


io.RawIOBase.register(PipeReader)
io.RawIOBase.register(PipeWriter)


def _rebuild_end(cls: type[_PipeEnd], dupfd: Any, name: str | None) -> _PipeEnd:
    return cls(dupfd.detach(), name=name)


def _get_capacity(fd: int) -> int:
    try:
        return fcntl.fcntl(fd, _F_GETPIPE_SZ)
    except OSError as exc:
        raise error_from_errno(exc.errno or 0, "fcntl(F_GETPIPE_SZ)") from None


def pipe_max_size() -> int:
    """The largest capacity an unprivileged process may set
    (/proc/sys/fs/pipe-max-size)."""
    with open("/proc/sys/fs/pipe-max-size") as f:
        return int(f.read())


def _set_capacity(fd: int, size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"capacity must be an int, not {type(size).__name__}")
    if size <= 0:
        raise ValueError("capacity must be > 0")
    if size > 0x7FFFFFFF:
        raise ValueError("capacity must fit in a C int")
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
    except OSError as exc:
        err = error_from_errno(exc.errno or 0, "fcntl(F_SETPIPE_SZ)")
        if exc.errno == errno.EPERM:
            err = PermissionError(exc.errno, f"fcntl(F_SETPIPE_SZ): {size} bytes is above "
                                  "/proc/sys/fs/pipe-max-size (or the user's pipe quota) "
                                  "and the process lacks CAP_SYS_RESOURCE")
        elif exc.errno == errno.EBUSY:
            err = error_from_errno(exc.errno or 0, "fcntl(F_SETPIPE_SZ): the pipe holds more data "
                                   "than the new size")
        raise err from None


class Pipe(Closable):
    """An anonymous pipe: ``reader`` and ``writer`` file objects.

    Args:
        nonblock: open both ends O_NONBLOCK (reads of an empty pipe and
            writes to a full one raise BlockingIOError instead of waiting).
        packet: "packet mode" (O_DIRECT, Linux 3.4+): each write of at most
            PIPE_BUF bytes is one packet and each read returns at most one
            packet (a read shorter than the packet discards the rest).
        inheritable: leave close-on-exec off (default: on, so a program
            started with exec inherits neither end unless you pass it).

    Handing an end to a child: after ``os.fork()`` both processes hold both
    ends: each closes the end it does not use (``p.writer.close()`` in the
    reader), or EOF never comes. For ``subprocess`` pass the descriptor:
    ``subprocess.Popen(cmd, pass_fds=[p.writer.fileno()])`` and close it in
    the parent afterwards, or use ``stdout=p.writer``.

    :attr:`closed` once both ends are closed. A pipe collected unclosed
    warns through its ends (ResourceWarning), which may outlive it.
    """

    __slots__ = ("reader", "writer")

    def __init__(self, *, nonblock: bool = False, packet: bool = False,
                 inheritable: bool = False) -> None:
        flags = 0 if inheritable else os.O_CLOEXEC
        if nonblock:
            flags |= os.O_NONBLOCK
        if packet:
            flags |= os.O_DIRECT
        try:
            r, w = os.pipe2(flags)
        except OSError as exc:
            raise error_from_errno(exc.errno or 0, "pipe2") from None
        #: The read end (:class:`PipeReader`).
        self.reader = PipeReader(r, name=f"<pipe reader {r}>")
        #: The write end (:class:`PipeWriter`).
        self.writer = PipeWriter(w, name=f"<pipe writer {w}>")

    @property
    def capacity(self) -> int:
        """The pipe's buffer size in bytes (F_GETPIPE_SZ; 65536 by default).

        Setting it (F_SETPIPE_SZ) rounds up to a power-of-two number of
        pages. Above /proc/sys/fs/pipe-max-size (1 MiB by default) it needs
        CAP_SYS_RESOURCE: PermissionError otherwise. Shrinking below the
        data held raises OSError(EBUSY). TypeError/ValueError for a bad size.
        """
        end = self.writer if not self.writer.closed else self.reader
        return _get_capacity(end.fileno())

    @capacity.setter
    def capacity(self, size: int) -> None:
        end = self.writer if not self.writer.closed else self.reader
        _set_capacity(end.fileno(), size)

    @property
    def closed(self) -> bool:
        """True once both ends are closed."""
        return self.reader.closed and self.writer.closed

    def close(self) -> None:
        """Close both ends (idempotent)."""
        self.reader.close()
        self.writer.close()

    def __enter__(self) -> Pipe:
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Pipe reader={self.reader.name!r} writer={self.writer.name!r}>"


# ---- popen / pclose -------------------------------------------------------------------


class PopenFile(ClosableResource):
    """What :func:`popen` returns: a file object (binary, or text with
    ``encoding=``) on the pipe to or from ``/bin/sh -c cmd``.

    Delegates file methods to the underlying stream (``read``, ``write``,
    ``readline``, iteration, ...). Close it with :func:`pclose` (or
    :meth:`close`, which returns the same wait status), or use it as a
    context manager. Collected unclosed, it warns (ResourceWarning) and
    closes its stream without waiting for the shell.
    """

    def __init__(self, stream: IO[Any], pid: int, mode: str, cmd: str) -> None:
        self._stream = stream
        self.pid = pid
        self.mode = mode
        self.cmd = cmd
        self._status: int | None = None
        self._opened()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> Any:
        return iter(self._stream)

    @property
    def closed(self) -> bool:
        """True once closed (:meth:`close` or :func:`pclose`)."""
        return self._status is not None

    def close(self) -> int:
        """Same as ``pclose(self)``, except that closing again returns the
        same status (pclose raises ValueError then, as C leaves it undefined)."""
        if self._status is not None:
            return self._status
        return pclose(self)

    def _release(self) -> None:
        try:
            self._stream.close()
        finally:
            os.waitpid(self.pid, os.WNOHANG)  # a shell that already exited is reaped

    def __enter__(self) -> PopenFile:
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is None:
            pclose(self)

    def __repr__(self) -> str:
        return f"<PopenFile pid={self.pid} mode={self.mode!r} cmd={self.cmd!r}>"


def popen(cmd: str | bytes, mode: Literal["r", "w", "rb", "wb"] = "r", *,
          encoding: str | None = None, errors: str | None = None) -> PopenFile:
    """Run ``/bin/sh -c cmd`` with a pipe on its stdout ("r") or stdin ("w").

    As C's popen: the shell is started as ``execl("/bin/sh", "sh", "-c",
    cmd)``; the parent's end is close-on-exec, so commands started by later
    popen calls do not inherit it. Binary by default; ``encoding=`` gives a
    text stream. The shell starts with SIGPIPE and SIGXFSZ at their
    default actions (as ``subprocess`` does): Python ignores them at
    startup and an ignored signal would stay ignored across exec.

    Returns:
        A :class:`PopenFile`; pass it to :func:`pclose`.

    Raises:
        TypeError, ValueError: bad ``cmd`` or ``mode`` (before anything runs).
        OSError: pipe2 or posix_spawn failed (nothing is left behind).
    """
    if not isinstance(cmd, (str, bytes)):
        raise TypeError(f"cmd must be str or bytes, not {type(cmd).__name__}")
    if (b"\0" in cmd) if isinstance(cmd, bytes) else ("\0" in cmd):
        raise ValueError("cmd contains a NUL byte")
    if mode not in ("r", "w", "rb", "wb"):
        raise ValueError(f"mode must be 'r' or 'w', not {mode!r}")
    reading = mode[0] == "r"
    r, w = os.pipe2(os.O_CLOEXEC)
    child_fd, parent_fd = (w, r) if reading else (r, w)
    target = 1 if reading else 0
    try:
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", cmd],
                             os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, child_fd, target)],
                             setsigdef=_CHILD_DEFAULT_SIGNALS)
    except BaseException:
        os.close(r)
        os.close(w)
        raise
    os.close(child_fd)
    end: PipeReader | PipeWriter = (PipeReader(parent_fd, name=f"<popen {cmd!r}>") if reading
                                    else PipeWriter(parent_fd, name=f"<popen {cmd!r}>"))
    stream: Any = end
    if encoding is not None:
        buffered: IO[bytes] = (io.BufferedReader(end) if reading  # type: ignore[type-var]
                               else io.BufferedWriter(end))  # type: ignore[type-var]
        stream = io.TextIOWrapper(buffered, encoding=encoding, errors=errors,
                                  write_through=not reading)
    return PopenFile(stream, pid, mode[0], cmd if isinstance(cmd, str) else os.fsdecode(cmd))


def pclose(f: PopenFile) -> int:
    """Close a stream from :func:`popen` and wait for its shell.

    Returns:
        The raw wait status, as C's pclose: ``os.waitstatus_to_exitcode``
        (or ``os.WEXITSTATUS``/``os.WTERMSIG``) decodes it; ``exit 3``
        gives ``3 << 8``.

    Raises:
        TypeError: ``f`` did not come from popen.
        ValueError: ``f`` was already closed with pclose.
    """
    if not isinstance(f, PopenFile):
        raise TypeError(f"pclose() needs a stream returned by unixipc.popen, "
                        f"not {type(f).__name__}")
    if f._status is not None:
        raise ValueError("pclose() of a stream that is already closed")
    try:
        f._stream.close()
    except BrokenPipeError:
        pass  # unflushed text for a shell that is gone; the status says why
    _, status = os.waitpid(f.pid, 0)
    f._status = status
    return status


def wait_pid(pid: int, deadline: Deadline) -> int | None:
    """Wait for child ``pid`` until ``deadline`` without polling (pidfd);
    return its raw wait status, or None if it is still running."""
    if deadline.forever:
        return os.waitpid(pid, 0)[1]
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        return status
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        while True:  # fallback without pidfd: short sleeps
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            if deadline.expired:
                return None
            time.sleep(min(0.01, deadline.remaining() or 0.0))
    try:
        if wait_readable(pidfd, deadline):
            return os.waitpid(pid, 0)[1]
        return None
    finally:
        os.close(pidfd)
