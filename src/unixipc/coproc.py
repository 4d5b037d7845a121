"""Coprocesses: a filter whose stdin and stdout are both connected to us.

Two rules make coprocesses hang in naive code, and :class:`Coprocess`
handles both:

1. **Both sides blocked on a full pipe.** If the parent writes a large block
   while the child writes a large answer before reading the rest, each
   waits for the other to read. Here every write and read goes through one
   poll loop: while a send waits for room, the child's output is read into
   a buffer, so neither side can block the other.
2. **The filter's output is fully buffered.** C stdio (and awk, Python
   without ``-u``) buffers stdout in blocks when it is a pipe, so a one-line
   answer stays in the child until its buffer fills: the parent waits for a
   line that is never sent. Either the filter flushes after each line (as
   the notes' add2 does with fflush), or pass ``pty=True``: the child's
   stdin and stdout become a pseudo-terminal (raw mode, no echo), and stdio
   line-buffers a terminal. Every read here takes ``timeout=`` so a filter
   that buffers raises TimeoutError instead of hanging.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import tty
from typing import Generator, Iterator, Mapping, Sequence, Union

from . import _core
from ._args import check_fd
from ._timeouts import Deadline
from ._wait import Ready, wait_readable, wait_readable_async, wait_ready, wait_ready_async
from ._closable import ClosableResource
from .pipe import _CHILD_DEFAULT_SIGNALS, wait_pid

__all__ = ["Coprocess"]

StrOrBytes = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_CHUNK = 65536


def _pidfd(pid: int) -> int:
    """A pidfd for the child (readable once it exited), or -1 without one."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return -1


def _exited(pidfd: int) -> bool:
    return pidfd >= 0 and wait_readable(pidfd, Deadline(0))


def _check_env(env: object) -> None:
    """What posix_spawn would refuse after the pipes are made: a non-mapping,
    names or values that are not str/bytes, a name with "=" or a NUL."""
    if not isinstance(env, Mapping):
        raise TypeError(f"env must be a mapping of names to values, not {type(env).__name__}")
    for name, value in env.items():
        if not isinstance(name, (str, bytes, os.PathLike)) or \
                not isinstance(value, (str, bytes, os.PathLike)):
            raise TypeError(f"env names and values must be str or bytes, not "
                            f"{type(name).__name__}: {type(value).__name__}")
        raw_name, raw_value = os.fsencode(name), os.fsencode(value)
        if not raw_name or b"=" in raw_name or b"\0" in raw_name:
            raise ValueError(f"env name {name!r} is not a valid variable name")
        if b"\0" in raw_value:
            raise ValueError(f"env value of {name!r} contains a NUL byte")


class Coprocess(ClosableResource):
    """Start ``argv`` with its stdin and stdout connected to this process.

    Args:
        argv: the program and its arguments (``argv[0]`` is searched in PATH).
        pty: connect stdin/stdout to a pseudo-terminal in raw mode (no echo,
            no newline translation) instead of two pipes, so filters that
            buffer their output on pipes answer line by line. The child is
            made a session leader. Closing a pty coprocess cannot send EOF
            without hanging it up: :meth:`close` hangs up the terminal.
        env: the child's environment (default: this process's).
        stderr: a descriptor for the child's stderr (default: inherited).

    The child starts with SIGPIPE and SIGXFSZ at their default actions (as
    with ``subprocess``), not ignored as Python has them.

    :attr:`closed` once :meth:`close` has closed the descriptors (also when
    it then timed out waiting for the child). Collected unclosed, a
    coprocess warns (ResourceWarning) and closes its descriptors, so the
    child sees end of file; it is not waited for.

    Raises:
        TypeError, ValueError: bad ``argv``, ``env`` or ``stderr`` (before
            anything starts).
        FileNotFoundError, PermissionError: the program cannot be executed.
    """

    def __init__(self, argv: Sequence[StrOrBytes], *, pty: bool = False,
                 env: Mapping[str, str] | None = None, stderr: int | None = None) -> None:
        if isinstance(argv, (str, bytes)) or not isinstance(argv, Sequence):
            raise TypeError("argv must be a sequence of arguments, e.g. ['awk', '{print}']")
        if not argv:
            raise ValueError("argv must not be empty")
        args = [os.fsencode(a) for a in argv]
        if any(b"\0" in a for a in args):
            raise ValueError("argv contains a NUL byte")
        if env is not None:
            _check_env(env)
        if stderr is not None:
            check_fd(stderr, "stderr")
        self.argv = list(argv)
        self.pty = bool(pty)
        self._in = bytearray()   # read from the child, not yet returned
        self._out = bytearray()  # for the child, not yet written
        self._eof = False
        self.returncode: int | None = None
        fds: list[int] = []
        try:
            if self.pty:
                master, slave = os.openpty()
                fds += [master, slave]
                tty.setraw(slave)  # no echo, no line editing, no \n -> \r\n
                actions = [(os.POSIX_SPAWN_DUP2, slave, 0), (os.POSIX_SPAWN_DUP2, slave, 1)]
                child_ends = [slave]
                self._rfd = self._wfd = master
            else:
                p2c_r, p2c_w = os.pipe2(os.O_CLOEXEC)
                fds += [p2c_r, p2c_w]
                c2p_r, c2p_w = os.pipe2(os.O_CLOEXEC)
                fds += [c2p_r, c2p_w]
                actions = [(os.POSIX_SPAWN_DUP2, p2c_r, 0), (os.POSIX_SPAWN_DUP2, c2p_w, 1)]
                child_ends = [p2c_r, c2p_w]
                self._rfd, self._wfd = c2p_r, p2c_w
            if stderr is not None:
                actions.append((os.POSIX_SPAWN_DUP2, stderr, 2))
            self.pid = os.posix_spawnp(args[0], args,
                                       os.environ if env is None else env,
                                       file_actions=actions, setsid=self.pty,
                                       setsigdef=_CHILD_DEFAULT_SIGNALS)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        for fd in child_ends:
            os.close(fd)
        os.set_blocking(self._rfd, False)
        os.set_blocking(self._wfd, False)
        self._opened()

    # ---- the one pump ------------------------------------------------------------

    def _holds(self, until: str) -> bool:
        """Whether the pump may stop: ``until`` is "line" (a whole line, or
        end of output, is buffered), "data" (some output or its end) or
        "sent" (nothing queued for the child)."""
        if until == "line":
            return b"\n" in self._in or self._eof
        if until == "data":
            return bool(self._in) or self._eof
        return not self._out

    def _step(self, until: str) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """One pass of the pump, never waiting; the blocking side
        (:meth:`_pump`) and the event-loop side (:meth:`_pump_async`) both
        drive it, differing only in how they wait between passes.

        Reads whatever the child has written (reading never stops while we
        wait, so a child that writes before it reads cannot block us) and
        writes what is queued for it. Returns None once ``until`` holds
        (see :meth:`_holds`), else the descriptors to wait for before the
        next pass: (readers, writers).

        Raises:
            EOFError: nothing is left to wait for (output ended, nothing to send).
            BrokenPipeError: the child closed its input or exited.
        """
        if self._holds(until):
            return None
        if self._rfd >= 0 and not self._eof:
            self._read_some()
        if self._out and self._wfd >= 0:
            self._write_some()
        if self._holds(until):
            return None
        readers = (self._rfd,) if self._rfd >= 0 and not self._eof else ()
        writers = (self._wfd,) if self._out and self._wfd >= 0 else ()
        if not readers and not writers:
            raise EOFError("the coprocess closed its output")
        return readers, writers

    def _timed_out(self) -> TimeoutError:
        return TimeoutError(errno.ETIMEDOUT, f"coprocess {self.argv[0]!r}: timed out")

    def _passes(self, deadline: Deadline, until: str, stop_fd: int
                ) -> Generator[tuple[tuple[int, ...], tuple[int, ...]], Ready, None]:
        """The pump's passes: :meth:`_step` until ``until`` holds, yielding
        (readers, writers) whenever it must wait and receiving what the
        wait found. TimeoutError at the deadline (a deadline already passed
        still makes a pass and one look); it ends early once ``stop_fd`` (a
        pidfd) is readable. The blocking and the event-loop side differ
        only in how they wait for each yield (:meth:`_pump`, :meth:`_pump_async`)."""
        stop = (stop_fd,) if stop_fd >= 0 else ()
        waited = False
        while True:
            waits = self._step(until)
            if waits is None:
                return
            if waited and deadline.expired:
                raise self._timed_out()
            ready = yield waits[0] + stop, waits[1]
            waited = True
            if not ready:
                raise self._timed_out()
            if stop_fd in ready.readable:
                return

    def _closing(self, deadline: Deadline
                 ) -> Generator[tuple[tuple[int, ...], tuple[int, ...]], Ready, None]:
        """close()'s steps up to the wait for the child's exit, as passes
        like :meth:`_passes`: with pipes, flush queued input and close stdin,
        then read and drop output until the child closes stdout or exits
        (a process it started may hold its stdout for long); then close
        the descriptors."""
        if self._rfd < 0:
            return
        if not self.pty:
            try:
                if self._out and self._wfd >= 0:
                    yield from self._passes(deadline, "sent", -1)
            except BrokenPipeError:
                pass
            finally:  # stdin is closed also when the flush timed out
                if self._wfd >= 0:
                    os.close(self._wfd)
                    self._wfd = -1
            pidfd = _pidfd(self.pid)
            try:
                while not self._eof and not _exited(pidfd):
                    yield from self._passes(deadline, "data", pidfd)
                    self._in.clear()
            except EOFError:
                pass
            finally:
                if pidfd >= 0:
                    os.close(pidfd)
        os.close(self._rfd)
        self._rfd = self._wfd = -1

    @staticmethod
    def _drive(steps: Generator[tuple[tuple[int, ...], tuple[int, ...]], Ready, None],
               deadline: Deadline) -> None:
        """Run passes (:meth:`_passes`, :meth:`_closing`), blocking in poll
        between them."""
        try:
            fds = next(steps)
            while True:
                fds = steps.send(wait_ready(*fds, deadline))
        except StopIteration:
            return

    @staticmethod
    async def _drive_async(steps: Generator[tuple[tuple[int, ...], tuple[int, ...]], Ready,
                                            None], deadline: Deadline) -> None:
        """Run passes waiting in the event loop between them. Cancelling
        loses nothing: what was read stays buffered, what was not written
        stays queued."""
        try:
            fds = next(steps)
            while True:
                fds = steps.send(await wait_ready_async(*fds, deadline))
        except StopIteration:
            return

    def _pump(self, deadline: Deadline, until: str, stop_fd: int = -1) -> None:
        """Run :meth:`_passes`, blocking in poll between passes."""
        self._drive(self._passes(deadline, until, stop_fd), deadline)

    async def _pump_async(self, deadline: Deadline, until: str, stop_fd: int = -1) -> None:
        """Run :meth:`_passes`, waiting in the event loop between passes."""
        await self._drive_async(self._passes(deadline, until, stop_fd), deadline)

    def _take_line(self) -> bytes:
        i = self._in.find(b"\n")
        if i < 0:
            if not self._in:
                raise EOFError(f"coprocess {self.argv[0]!r} closed its output")
            i = len(self._in) - 1
        line = bytes(self._in[:i + 1])
        del self._in[:i + 1]
        return line

    async def send_async(self, data: bytes | bytearray | memoryview | str, *,
                         block: bool = True, timeout: float | None = None) -> None:
        """The async twin of :meth:`send`: the same arguments and errors,
        waiting in the event loop."""
        self._check_open()
        if self._wfd < 0:
            raise ValueError("the coprocess's input was closed with close_input()")
        deadline = self._deadline(block, timeout)
        self._out += data.encode() if isinstance(data, str) else data
        with self._would_block(block):
            await self._pump_async(deadline, "sent")

    async def readline_async(self, *, block: bool = True,
                             timeout: float | None = None) -> bytes:
        """The async twin of :meth:`readline` (the same arguments and
        errors). Cancelling it loses nothing: output read meanwhile stays
        buffered for the next call."""
        self._check_open()
        deadline = self._deadline(block, timeout)
        with self._would_block(block):
            await self._pump_async(deadline, "line")
        return self._take_line()

    async def read_async(self, size: int = _CHUNK, *, block: bool = True,
                         timeout: float | None = None) -> bytes:
        """The async twin of :meth:`read` (the same arguments and errors)."""
        self._check_open()
        deadline = self._deadline(block, timeout)
        with self._would_block(block):
            await self._pump_async(deadline, "data")
        data = bytes(self._in[:size])
        del self._in[:size]
        return data

    async def request_async(self, line: bytes | str, *, block: bool = True,
                            timeout: float | None = None) -> bytes:
        """The async twin of :meth:`request` (the same arguments and errors)."""
        data = line.encode() if isinstance(line, str) else bytes(line)
        if not data.endswith(b"\n"):
            data += b"\n"
        deadline = self._deadline(block, timeout)
        await self.send_async(data, block=block, timeout=deadline.remaining())
        return await self.readline_async(block=block, timeout=deadline.remaining())

    def _read_some(self) -> None:
        try:
            chunk = os.read(self._rfd, _CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # a pty whose other side is closed
                raise
            chunk = b""
        if chunk:
            self._in += chunk
        else:
            self._eof = True

    def _hung_up(self) -> bool:
        """Whether a pty's other side is gone: every descriptor of the
        terminal closed in the child (it exited or closed them). A write to
        the master then neither fails nor makes progress once the
        terminal's buffer is full, so it must be asked."""
        poller = select.poll()
        poller.register(self._wfd, 0)  # POLLHUP is always reported
        return any(ev & select.POLLHUP for _, ev in poller.poll(0))

    def _write_some(self) -> None:
        if self.pty and self._hung_up():
            self._out.clear()
            raise BrokenPipeError(errno.EPIPE, f"coprocess {self.argv[0]!r} closed its terminal "
                                  "(or exited)")
        try:
            n = _core.write(self._wfd, self._out, False)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.EIO):
                raise
            self._out.clear()
            raise BrokenPipeError(errno.EPIPE, f"coprocess {self.argv[0]!r} closed its input "
                                  "(or exited)") from None
        del self._out[:n]

    @staticmethod
    def _deadline(block: bool, timeout: float | None) -> Deadline:
        """The deadline of a call; ``block=False`` is a deadline of now:
        one pass, no wait."""
        deadline = Deadline(timeout)
        return deadline if block else Deadline(0)

    @contextlib.contextmanager
    def _would_block(self, block: bool) -> Iterator[None]:
        """With ``block=False`` the deadline of now running out means the
        call would have had to wait: BlockingIOError (EAGAIN)."""
        try:
            yield
        except TimeoutError:
            if block:
                raise
            raise BlockingIOError(errno.EAGAIN,
                                  f"coprocess {self.argv[0]!r}: would block") from None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` (or :meth:`close_async`) closed the
        descriptors."""
        return self._rfd < 0

    def _release(self) -> None:
        rfd, wfd = self._rfd, self._wfd
        self._rfd = self._wfd = -1
        for fd in {rfd, wfd} - {-1}:
            os.close(fd)

    # ---- public I/O -------------------------------------------------------------------

    def send(self, data: bytes | bytearray | memoryview | str, *, block: bool = True,
             timeout: float | None = None) -> None:
        """Send ``data`` to the child's stdin (str is encoded as UTF-8).

        Returns once all of it is written. While waiting for room, the
        child's output is read and kept for :meth:`readline`, so a child
        that writes before reading cannot deadlock with us.

        Raises:
            BrokenPipeError: the child closed its stdin or exited.
            TimeoutError: ``timeout`` seconds passed first (the rest of
                ``data`` stays queued and goes with the next call).
            BlockingIOError: ``block=False`` and not all of it could be
                written at once (the rest stays queued, as for a timeout).
            ValueError: the coprocess is closed.
        """
        self._check_open()
        if self._wfd < 0:
            raise ValueError("the coprocess's input was closed with close_input()")
        deadline = self._deadline(block, timeout)
        self._out += data.encode() if isinstance(data, str) else data
        with self._would_block(block):
            self._pump(deadline, "sent")

    def readline(self, *, block: bool = True, timeout: float | None = None) -> bytes:
        """Return the next line from the child's stdout, with its ``b"\\n"``
        (the last line may lack it).

        Blocks until a whole line is there, reading and writing meanwhile;
        ``timeout`` bounds the wait (None: forever).

        Raises:
            EOFError: the child closed its stdout (or exited) with no line left.
            TimeoutError: no whole line within ``timeout``.
            BlockingIOError: ``block=False`` and no whole line at once.
            BrokenPipeError: queued input could not be sent (child gone).
        """
        self._check_open()
        deadline = self._deadline(block, timeout)
        with self._would_block(block):
            self._pump(deadline, "line")
        return self._take_line()

    def read(self, size: int = _CHUNK, *, block: bool = True,
             timeout: float | None = None) -> bytes:
        """Return at most ``size`` bytes of output, waiting (bounded by
        ``timeout``; not at all with ``block=False``: BlockingIOError) until
        there is some; ``b""`` once the output ended."""
        self._check_open()
        deadline = self._deadline(block, timeout)
        with self._would_block(block):
            self._pump(deadline, "data")
        data = bytes(self._in[:size])
        del self._in[:size]
        return data

    def request(self, line: bytes | str, *, block: bool = True,
                timeout: float | None = None) -> bytes:
        """Send one line (``b"\\n"`` added if missing) and return one reply
        line. ``timeout`` bounds the whole exchange.

        Raises:
            TimeoutError: no reply line in time (a filter whose output is
                buffered: make it flush, or use ``pty=True``). A late reply
                is returned by the next readline.
            BlockingIOError: ``block=False`` and the line could not be sent
                or the reply was not there at once (what was not sent stays
                queued; the reply comes with a later readline).
            EOFError, BrokenPipeError: the child closed its end or exited.
        """
        data = line.encode() if isinstance(line, str) else bytes(line)
        if not data.endswith(b"\n"):
            data += b"\n"
        deadline = self._deadline(block, timeout)
        self.send(data, block=block, timeout=deadline.remaining())
        return self.readline(block=block, timeout=deadline.remaining())

    # ---- ending --------------------------------------------------------------------

    def close_input(self, *, timeout: float | None = None) -> None:
        """Flush queued input and close the child's stdin (it sees EOF).
        Pipes only: a pty has one end for both directions."""
        if self.pty:
            raise ValueError("a pty coprocess has no separate input to close: use close()")
        if self._wfd >= 0:
            try:
                if self._out:
                    self._pump(self._deadline(True, timeout), "sent")
            finally:
                os.close(self._wfd)
                self._wfd = -1

    def close(self, *, timeout: float | None = None) -> int:
        """End the conversation and wait for the child; return its exit
        status as :attr:`returncode` (the exit code, or ``-N`` if killed by
        signal N, like subprocess).

        With pipes: queued input is flushed, stdin closed (EOF), the rest
        of the output is read and dropped until the child closes stdout or
        exits (a process it started in the background may keep its stdout
        open long after), then the child is waited for. With a pty: the terminal is hung up
        (the child sees end of file, or SIGHUP) and the child waited for.
        ``timeout`` bounds all of it; on TimeoutError the child is left
        running (call :meth:`kill`, then close again).
        """
        if self.returncode is not None:
            return self.returncode
        deadline = self._deadline(True, timeout)
        self._drive(self._closing(deadline), deadline)
        status = wait_pid(self.pid, deadline)
        if status is None:
            raise TimeoutError(errno.ETIMEDOUT,
                               f"coprocess {self.argv[0]!r} (pid {self.pid}) did not exit")
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    async def close_async(self, *, timeout: float | None = None) -> int:
        """The async twin of :meth:`close`: the same steps, waiting in the
        event loop (the child's exit through a pidfd)."""
        if self.returncode is not None:
            return self.returncode
        deadline = self._deadline(True, timeout)
        await self._drive_async(self._closing(deadline), deadline)
        pidfd = os.pidfd_open(self.pid)
        try:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if not done:
                if not await wait_readable_async(pidfd, deadline):
                    raise TimeoutError(errno.ETIMEDOUT, f"coprocess {self.argv[0]!r} "
                                       f"(pid {self.pid}) did not exit")
                status = os.waitpid(self.pid, 0)[1]
        finally:
            os.close(pidfd)
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the child (no error if it already exited)."""
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def __enter__(self) -> Coprocess:
        self._check_open()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.kill()
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else f"returncode={self.returncode}"
        return f"<Coprocess pid={self.pid} argv={self.argv!r} pty={self.pty} {state}>"
