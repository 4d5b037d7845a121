"""A message channel in shared memory: the fastest way between processes.

:class:`ShmChannel` is a ring of variable-length messages in a shared
mapping (a memfd, or a file of ``/dev/shm`` when it has a name). A message
is a copy into the ring and a copy out; a wake-up system call is made only
when the other side actually sleeps. Any number of processes and threads
may send and receive; each message is delivered exactly once, and the
messages of one sender reach each receiver in the order sent.

End of stream, as with a pipe after fork: a process that will only receive
calls :meth:`ShmChannel.close_sending`, one that will only send calls
:meth:`ShmChannel.close_receiving`. A process that exits or is killed
counts as having closed both. When no process has the sending side open and
the ring is empty, receiving raises :class:`~unixipc.ChannelClosedError`;
when no process has the receiving side open, sending raises
:class:`BrokenPipeError`. See docs/shmch.md for the model and the
exact crash guarantees.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import Any, Iterator

from . import _aio, _core
from ._timeouts import Deadline
from ._closable import ClosableResource
from .errors import naming

__all__ = ["ShmChannel"]

_SHM_DIR = "/dev/shm"


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not name.startswith("/") or "/" in name[1:] or len(name) < 2 or "\0" in name:
        raise ValueError(f"name must be one slash and at least one other character: {name!r}")
    if len(name) > 255:
        raise ValueError("name is longer than 255 characters")
    return name


def _check_mode(mode: object) -> int:
    if not isinstance(mode, int) or isinstance(mode, bool):
        raise TypeError(f"mode must be an int, not {type(mode).__name__}")
    if not 0 <= mode <= 0o777:
        raise ValueError("mode must be in 0..0o777")
    return mode


def _check_capacity(capacity: object) -> int:
    if not isinstance(capacity, int) or isinstance(capacity, bool):
        raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
    if capacity < 1:
        raise ValueError("capacity must be at least 1 byte")
    return capacity


def _new_file(capacity: int, max_processes: int, path: str | None, mode: int) -> int:
    """A formatted channel file: a memfd, or a hidden file of /dev/shm
    (published under its name by the caller). Returns its descriptor."""
    if path is None:
        fd = os.memfd_create("unixipc-shmch", os.MFD_CLOEXEC)
    else:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        os.fchmod(fd, mode)  # exactly `mode`, whatever the umask
    try:
        _core.shmch_format(fd, capacity, max_processes)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _create_named(path: str, capacity: int, max_processes: int, mode: int,
                  exclusive: bool) -> int | None:
    """Creates the channel at `path`, whole or not at all: it is formatted
    under a hidden name and then linked into place. None when `path`
    exists and `exclusive` is false (the caller opens it)."""
    hidden = os.path.join(_SHM_DIR, f".unixipc-{secrets.token_hex(8)}")
    fd = _new_file(capacity, max_processes, hidden, mode)
    try:
        try:
            os.link(hidden, path)
        except FileExistsError:
            os.close(fd)
            os.unlink(hidden)
            if exclusive:
                raise
            return None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(hidden)
        raise
    os.unlink(hidden)
    return fd


class ShmChannel(_core.ShmChannelBase, ClosableResource):
    """A channel of messages in shared memory.

    ``ShmChannel(capacity=1 << 20)`` makes an anonymous channel (a memfd):
    fork children inherit it, and it pickles into spawn and forkserver
    children; its descriptor (:meth:`fileno`) can also be passed over a
    socket channel and opened with :meth:`from_fd`.

    ``ShmChannel(name="/jobs", capacity=..., create=True)`` makes (or with
    ``exclusive=False`` opens, if it exists) a named channel, a file of
    /dev/shm created with ``mode`` (0o600 by default) and never through a
    symlink; ``ShmChannel(name="/jobs")`` opens an existing one.

    Args:
        name: None for an anonymous channel, else "/name".
        capacity: the ring's size in bytes, rounded up to a power of two
            (at least 4096). A message may be up to about half of it
            (:attr:`max_message_size`).
        create: create a named channel if it does not exist.
        exclusive: with ``create``, fail with FileExistsError if it exists.
        mode: permission bits of a new named channel.
        max_processes: how many processes may use the channel at once
            (fixed when it is created; each process takes one slot).
    """

    _fd: int
    _name: str | None
    _watchers: "list[_aio.ChangeWatcher | None]"

    def __init__(self, name: str | None = None, capacity: int = 1 << 20, *,
                 create: bool | None = None, exclusive: bool = False, mode: int = 0o600,
                 max_processes: int = _core.SHMCH_DEFAULT_SLOTS,
                 _fd: int | None = None, _sides: tuple[bool, bool] = (True, True)) -> None:
        capacity = _check_capacity(capacity)
        mode = _check_mode(mode)
        if _fd is not None:
            fd = _fd
        elif name is None:
            if create is False:
                raise ValueError("an anonymous channel is always created (create=False needs a name)")
            fd = _new_file(capacity, max_processes, None, mode)
        else:
            name = _check_name(name)
            path = _SHM_DIR + name
            fd_or_none = None
            with naming(path):
                if create:
                    fd_or_none = _create_named(path, capacity, max_processes, mode, exclusive)
                elif exclusive:
                    raise ValueError("exclusive=True needs create=True")
                if fd_or_none is None:
                    fd_or_none = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            fd = fd_or_none
        try:
            with naming(name or f"memfd {fd}"):
                super().__init__(fd, _sides[0], _sides[1])
        except BaseException:
            if _fd is None:
                os.close(fd)
            raise
        self._fd = fd
        self._name = name
        self._opened()

    # -- construction from elsewhere ------------------------------------------

    @classmethod
    def from_fd(cls, fd: int) -> "ShmChannel":
        """Open the channel whose file descriptor ``fd`` is (received over a
        socket channel, say); the channel owns ``fd`` from then on."""
        if not isinstance(fd, int) or isinstance(fd, bool):
            raise TypeError(f"fd must be an int, not {type(fd).__name__}")
        return cls(_fd=fd)

    def __reduce__(self) -> tuple[Any, ...]:
        self._check_open()
        sides = self._sides
        if self._name is not None:
            return (_rebuild_named, (self._name, sides))
        from multiprocessing import reduction
        return (_rebuild_anonymous, (reduction.DupFd(self._fd), sides))

    # -- the rest of the API -------------------------------------------------

    @property
    def name(self) -> str | None:
        """The channel's name, or None if it is anonymous."""
        return self._name

    def fileno(self) -> int:
        """The descriptor of the channel's file (memfd or /dev/shm file)."""
        self._check_open()
        return self._fd

    def close(self) -> None:
        """Close both sides here, give up this process's slot and unmap.
        Idempotent. BufferError while a receive view is still in use."""
        if self.closed:
            return
        self._close()
        os.close(self._fd)

    def unlink(self) -> None:
        """Remove a named channel's name (processes that have it open keep
        using it). ValueError for an anonymous channel."""
        if self._name is None:
            raise ValueError("an anonymous channel has no name to unlink")
        path = _SHM_DIR + self._name
        with naming(path):
            os.unlink(path)

    @contextlib.contextmanager
    def receive_view(self, *, block: bool = True,
                     timeout: float | None = None) -> Iterator[memoryview]:
        """Receive the next message without copying it: a read-only
        memoryview into the ring, whose space is given back when the block
        ends (or, if slices of it are still alive then, when the last one
        is released). Same waiting rules and errors as :meth:`receive`."""
        record = self._receive_record(block=block, timeout=timeout)
        view = memoryview(record)
        try:
            yield view
        finally:
            view.release()
            record.end()

    def _watcher(self, side: int) -> _aio.ChangeWatcher:
        """The helper that sleeps for this process's async calls on one side
        (0: receiving, 1: sending); a fork child makes its own."""
        watchers: list[_aio.ChangeWatcher | None] | None = getattr(self, "_watchers", None)
        if watchers is None:
            watchers = self._watchers = [None, None]
        w = watchers[side]
        if w is None or w.owner_pid != os.getpid():
            w = watchers[side] = _aio.ChangeWatcher(
                lambda delta: self._async_waiting(side, delta),
                lambda seen, timeout: self._wait_change(side, seen, timeout),
                "unixipc-shmch-" + ("send" if side else "receive"))
        return w

    async def _retry(self, side: int, attempt: Any, block: bool, timeout: float | None,
                     what: str) -> Any:
        try:
            return attempt(timeout)  # also checks the arguments
        except BlockingIOError:
            if not block:
                raise
        deadline = Deadline(timeout)
        return await self._watcher(side).retry(lambda: attempt(None), deadline, what)

    async def send_async(self, data: Any, *, block: bool = True,
                         timeout: float | None = None) -> None:
        """:meth:`send` for asyncio: the same arguments, errors and
        guarantees; cancelling it loses nothing (the message is sent or not).

        No thread is used when the ring has room. Otherwise the task waits
        in the event loop, and one helper thread per process and channel
        side sleeps on the ring for all such tasks; each try to send is made
        in the loop thread, so a cancelled call never sends."""
        await self._retry(1, lambda t: self.send(data, block=False, timeout=t), block,
                          timeout, "send")

    async def receive_async(self, *, block: bool = True, timeout: float | None = None) -> bytes:
        """:meth:`receive` for asyncio: the same arguments and errors; a
        cancelled call takes no message.

        No thread is used when a message is ready. Otherwise the task waits
        in the event loop, and one helper thread per process and channel
        side sleeps on the ring for all such tasks; each try to take a
        message is made in the loop thread, so a cancelled call never takes
        one."""
        result: bytes = await self._retry(0, lambda t: self.receive(block=False, timeout=t),
                                          block, timeout, "receive")
        return result

    def __enter__(self) -> "ShmChannel":
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"<ShmChannel {self._name or 'anonymous'} closed>"
        return (f"<ShmChannel {self._name or 'anonymous'} capacity={self.capacity} "
                f"max_message_size={self.max_message_size}>")


def _rebuild_named(name: str, sides: tuple[bool, bool]) -> ShmChannel:
    return ShmChannel(name, _sides=sides)


def _rebuild_anonymous(dupfd: Any, sides: tuple[bool, bool]) -> ShmChannel:
    return ShmChannel(_fd=dupfd.detach(), _sides=sides)
