"""FIFOs (named pipes): a pipe with a name in the file system.

The kernel's open rules, which :class:`Fifo` follows exactly:

- ``open_reader(nonblock=True)`` always succeeds at once.
- ``open_writer(nonblock=True)`` fails with :class:`~unixipc.NoReaderError`
  (ENXIO) when no process has the FIFO open for reading.
- A blocking open waits for the other side; ``timeout=`` bounds the wait
  (TimeoutError, and no descriptor is left open).

Reads then follow the pipe rules: ``b""`` once every writer has closed,
BlockingIOError (EAGAIN) on a non-blocking reader while writers exist but
no data is there.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from typing import Union

from . import _core
from ._args import check_fd
from .errors import IPCError, error_from_errno, naming
from ._timeouts import check_timeout
from .pipe import PipeReader, PipeWriter

__all__ = ["mkfifo", "Fifo", "NotAFifoError"]

StrPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


class NotAFifoError(IPCError, FileExistsError):
    """Something other than a FIFO (a symbolic link, a regular file, a
    directory, ...) is at the path: unixipc refuses to open it, so a file
    planted in a shared directory cannot stand in for the FIFO.
    ``errno`` is EEXIST (or ELOOP for a symbolic link)."""


def _check_mode(mode: int) -> None:
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise TypeError(f"mode must be an int, not {type(mode).__name__}")
    if mode < 0 or mode > 0o7777:
        raise ValueError(f"mode must be permission bits (0..0o7777), not {mode:#o}")


def _check_dir_fd(dir_fd: int | None) -> None:
    if dir_fd is not None:
        check_fd(dir_fd, "dir_fd")


def mkfifo(path: StrPath, mode: int = 0o600, *, dir_fd: int | None = None) -> None:
    """Create a FIFO at ``path`` (mkfifoat when ``dir_fd`` is given: a
    relative ``path`` is then looked up from that directory).

    ``mode`` is permission bits, reduced by the process umask as for any
    new file (0o600 by default: only the owner may open it).

    Raises:
        FileExistsError: something already exists at ``path``.
        FileNotFoundError, PermissionError: as mkfifo(3).
        TypeError, ValueError: bad arguments, before the call.
    """
    _check_mode(mode)
    _check_dir_fd(dir_fd)
    with naming(os.fsdecode(path)):
        try:
            os.mkfifo(path, mode, dir_fd=dir_fd)
        except OSError as exc:
            raise error_from_errno(exc.errno or 0, "mkfifo") from None


class Fifo:
    """A FIFO at ``path``; open its ends with :meth:`open_reader` and
    :meth:`open_writer`.

    Args:
        path: the FIFO's path (relative to ``dir_fd`` when given).
        create: create it first (:func:`mkfifo`); an existing FIFO is used
            unless ``exclusive=True``; anything else at the path is refused.
        exclusive: with ``create``, FileExistsError if the path exists.
        mode: permission bits for ``create`` (default 0o600).
        dir_fd: a directory descriptor for ``path`` (the *at calls).

    Used as a context manager, the FIFO is unlinked on exit if this object
    created it.
    """

    def __init__(self, path: StrPath, *, create: bool = False, exclusive: bool = False,
                 mode: int = 0o600, dir_fd: int | None = None) -> None:
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise TypeError(f"path must be a str, bytes or os.PathLike, not "
                            f"{type(path).__name__}")
        _check_mode(mode)
        _check_dir_fd(dir_fd)
        self.path = os.fspath(path)
        self.dir_fd = dir_fd
        self.created = False
        if create:
            try:
                mkfifo(self.path, mode, dir_fd=dir_fd)
                self.created = True
            except FileExistsError:
                if exclusive:
                    raise
                self._check_is_fifo()

    def _check_is_fifo(self) -> None:
        try:
            st = os.stat(self.path, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return  # the open will say so
        if not stat.S_ISFIFO(st.st_mode):
            self._refuse(st.st_mode)

    def _refuse(self, st_mode: int | None) -> None:
        kind = "a symbolic link" if st_mode is None or stat.S_ISLNK(st_mode) else (
            "a directory" if stat.S_ISDIR(st_mode) else
            "a regular file" if stat.S_ISREG(st_mode) else "not a FIFO")
        err = errno.ELOOP if kind == "a symbolic link" else errno.EEXIST
        raise NotAFifoError(err, f"open: {os.fsdecode(self.path)!r} is {kind}, not a FIFO; "
                            "refusing to open it")

    def _open_once(self, flags: int, timeout: float | None) -> int:
        """``block=False``: the one attempt ``timeout=0`` makes, which
        raises BlockingIOError (EAGAIN) instead of TimeoutError."""
        check_timeout(timeout)
        try:
            return self._open(flags, 0)
        except TimeoutError:
            other = "writer" if flags & os.O_WRONLY == 0 else "reader"
            raise BlockingIOError(errno.EAGAIN, f"open: {os.fsdecode(self.path)!r} has no "
                                  f"{other} yet") from None

    def _open(self, flags: int, timeout: float | None) -> int:
        # Refuse before opening what we can see is wrong (opening a device
        # may have effects); the C side checks again with fstat after the
        # open, and O_NOFOLLOW stops a symbolic link planted in between.
        self._check_is_fifo()
        try:
            with naming(os.fsdecode(self.path)):
                fd = _core.open_fifo(self.path, flags, timeout, self.dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self._refuse(None)
            raise
        if fd is None:
            self._refuse(os.stat(self.path, dir_fd=self.dir_fd,
                                 follow_symlinks=False).st_mode)
            raise AssertionError("unreachable")  # pragma: no cover
        return fd

    def open_reader(self, *, nonblock: bool = False, block: bool = True,
                    timeout: float | None = None) -> PipeReader:
        """Open the FIFO for reading (close-on-exec).

        Without ``nonblock`` the open blocks until a writer opens it,
        bounded by ``timeout`` seconds (None: forever). ``timeout=0`` (or
        ``block=False``) makes one attempt that does not wait, which for a
        reader always succeeds
        (the kernel cannot tell without waiting whether a writer exists; a
        later read then returns b"" while no writer has opened it).
        ``nonblock=True`` opens O_NONBLOCK: it succeeds at once and the end
        stays non-blocking (reads: BlockingIOError while writers exist but
        no data is there, b"" when there is no writer).

        Raises:
            TimeoutError: no writer came within ``timeout`` (nothing stays open).
            NotAFifoError: a symbolic link, regular file or other non-FIFO is
                at the path.
            FileNotFoundError, PermissionError: as open(2).
        """
        flags = os.O_RDONLY | (os.O_NONBLOCK if nonblock else 0)
        fd = self._open(flags, timeout) if block else self._open_once(flags, timeout)
        return PipeReader(fd, name=os.fsdecode(self.path))

    def open_writer(self, *, nonblock: bool = False, block: bool = True,
                    timeout: float | None = None) -> PipeWriter:
        """Open the FIFO for writing (close-on-exec).

        Without ``nonblock`` the open blocks until a reader opens it,
        bounded by ``timeout`` seconds (None: forever; 0: one attempt that
        does not wait). ``block=False`` makes that one attempt and raises
        BlockingIOError when no reader is there; the end it returns is a
        blocking one (``nonblock=True`` instead opens O_NONBLOCK, fails
        with NoReaderError, and the end stays non-blocking).

        Raises:
            BlockingIOError: ``block=False`` and no reader is there.
            NoReaderError: ``nonblock=True`` and no process has the FIFO open
                for reading (ENXIO).
            TimeoutError: no reader came within ``timeout`` (nothing stays open).
            NotAFifoError: a non-FIFO is at the path.
            FileNotFoundError, PermissionError: as open(2).
        """
        flags = os.O_WRONLY | (os.O_NONBLOCK if nonblock else 0)
        fd = self._open(flags, timeout) if block else self._open_once(flags, timeout)
        return PipeWriter(fd, name=os.fsdecode(self.path))

    async def _open_async(self, flags: int, timeout: float | None) -> int:
        # The open has no readiness to wait for in an event loop: it runs in
        # the default executor, bounded by timeout. If the awaiting task is
        # cancelled, a descriptor the open returns later is closed at once.
        check_timeout(timeout)
        import asyncio  # not at import time (see _aio)
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, functools.partial(self._open, flags, timeout))
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            def close_late(f: asyncio.Future[int]) -> None:
                if not f.cancelled() and f.exception() is None:
                    os.close(f.result())
            fut.add_done_callback(close_late)
            raise

    async def open_reader_async(self, *, nonblock: bool = False, block: bool = True,
                                timeout: float | None = None) -> PipeReader:
        """The async twin of :meth:`open_reader`, with the same arguments. A
        blocking open waits in a worker thread (the kernel offers nothing to
        wait on in an event loop), bounded by ``timeout``; cancelling the
        task returns at once, and a descriptor the open yields afterwards is
        closed. Without a timeout a cancelled open keeps its worker thread
        until a writer comes. ``nonblock=True`` and ``block=False`` never
        wait, so they use no thread."""
        if nonblock or not block:
            return self.open_reader(nonblock=nonblock, block=block, timeout=timeout)
        fd = await self._open_async(os.O_RDONLY, timeout)
        return PipeReader(fd, name=os.fsdecode(self.path))

    async def open_writer_async(self, *, nonblock: bool = False, block: bool = True,
                                timeout: float | None = None) -> PipeWriter:
        """The async twin of :meth:`open_writer`, with the same arguments
        (see :meth:`open_reader_async` for how it waits and is cancelled)."""
        if nonblock or not block:
            return self.open_writer(nonblock=nonblock, block=block, timeout=timeout)
        fd = await self._open_async(os.O_WRONLY, timeout)
        return PipeWriter(fd, name=os.fsdecode(self.path))

    def exists(self) -> bool:
        """Whether a FIFO is at the path now."""
        try:
            st = os.stat(self.path, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return stat.S_ISFIFO(st.st_mode)

    def unlink(self) -> None:
        """Remove the FIFO's name. Processes that have it open keep using
        it; FileNotFoundError if it is already gone."""
        with naming(os.fsdecode(self.path)):
            try:
                os.unlink(self.path, dir_fd=self.dir_fd)
            except OSError as exc:
                raise error_from_errno(exc.errno or 0, "unlink") from None
        self.created = False

    def __enter__(self) -> Fifo:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.created:
            try:
                self.unlink()
            except FileNotFoundError:
                pass

    def __repr__(self) -> str:
        return f"<Fifo {os.fsdecode(self.path)!r}>"
