"""Exceptions raised by unixipc, and the one errno table behind them.

Every failed system call raises an :class:`OSError` subclass with ``errno``
set and the system call named in the message, e.g.
``ObjectRemovedError: [Errno 43] msgrcv: Identifier removed``.

The built-in PEP 3151 classes are used where they fit (``FileExistsError``,
``FileNotFoundError``, ``PermissionError``, ``BlockingIOError``,
``BrokenPipeError``, ``TimeoutError``); the errnos that Python leaves as a
plain ``OSError`` but that IPC code must tell apart get the classes below.
"""

from __future__ import annotations

import contextlib
import errno as _errno
from typing import Iterator

from . import _core

__all__ = [
    "IPCError",
    "ObjectRemovedError",
    "MessageTooLongError",
    "NoReaderError",
    "ChannelClosedError",
]


class IPCError(OSError):
    """Base class of the errors unixipc adds to Python's OSError family."""


class ObjectRemovedError(IPCError):
    """The message queue, semaphore set or segment was removed.

    Raised by a call that was blocked on the object (``receive``, ``send``,
    ``acquire``) when another process removed it meanwhile (errno EIDRM),
    and by a call made on an object that was removed (by this handle's
    ``remove()`` or by anyone): the kernel's errno is kept (EINVAL: no
    object has the id now) and ``filename`` names the object, e.g.
    ``[Errno 22] msgrcv: Invalid argument: 'message queue 32768 (removed)'``.
    """


class MessageTooLongError(IPCError):
    """E2BIG: a message is longer than the buffer it was to be received in.

    The message stays on the queue; receive it with a larger ``max_size`` or
    with ``truncate=True`` to drop its tail.
    """


class NoReaderError(IPCError):
    """ENXIO: a FIFO was opened for writing without blocking, and no process
    has it open for reading."""


class ChannelClosedError(EOFError):
    """No more messages will come: a socket channel's peer closed (or shut
    down its writing side) at a message boundary, or no process has a
    shared-memory channel's sending side open any more (closed, exited or
    killed) and its ring is empty."""


#: errno -> class, for the errnos that OSError itself leaves plain. ENOMSG is
#: "no message of the wanted type" in non-blocking mode: a would-block case.
ERRNO_CLASSES: dict[int, type[OSError]] = {
    _errno.EIDRM: ObjectRemovedError,
    _errno.E2BIG: MessageTooLongError,
    _errno.ENXIO: NoReaderError,
    _errno.ENOMSG: BlockingIOError,
    _errno.EPERM: PermissionError,
    _errno.EACCES: PermissionError,
}


def error_from_errno(err: int, syscall: str) -> OSError:
    """Return (not raise) the exception the C core raises for ``err`` from
    ``syscall``: the same class and message. For Python-level system calls
    that want the same mapping."""
    try:
        _core._raise_errno(syscall, err)
    except OSError as exc:
        return exc
    raise AssertionError("_raise_errno returned")  # pragma: no cover


@contextlib.contextmanager
def naming(what: str) -> Iterator[None]:
    """Name the object (``what``: "message queue key 0x00001234", a path) in
    an OSError raised in the block, as its ``filename``, the way ``open``
    names its path; class, errno, message and traceback stay the same. The
    one way a call site names its object."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None or exc.filename is not None:
            raise
        named = type(exc)(exc.errno, exc.strerror, what)
        raise named.with_traceback(exc.__traceback__) from None


_core._set_error_table(ERRNO_CLASSES)
