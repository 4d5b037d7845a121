"""The posix_ipc 1.3.2 API over unixipc's own POSIX classes.

``import unixipc.compat.posix_ipc as posix_ipc`` is the whole migration:
the names, signatures, defaults, tuple orders and exception classes are
posix_ipc's (``Semaphore(None, O_CREX)`` picks a free random name,
``acquire(2)`` waits at most 2 seconds, ``receive()`` returns ``(message,
priority)``, ``str`` messages are sent as UTF-8, ``SharedMemory`` hands out
its descriptor as ``fd``), while the work is done by
:class:`unixipc.posix.Semaphore`, :class:`unixipc.posix.MessageQueue` and
unixipc's shared memory code. What the layer fixes over the package:

- a signal never ends a wait with an error: EINTR is retried with the time
  left, after Python's signal handlers ran (posix_ipc raises
  ``SignalError``, which is kept but never raised);
- timeouts are counted on CLOCK_MONOTONIC, so setting the wall clock
  neither stretches nor cuts a wait;
- every exception is also the OSError subclass unixipc raises, with
  ``errno`` set: ``ExistentialError`` is also ``FileNotFoundError`` or
  ``FileExistsError`` (or ``ValueError`` for a closed handle, as unixipc's
  closed objects raise), ``PermissionsError`` is also ``PermissionError``,
  ``BusyError`` is also ``BlockingIOError`` or ``TimeoutError``; so old
  and new ``except`` clauses both work;
- a segment made with ``O_CREX`` appears under its name already at its
  full size and allocated (no other process sees it empty; a full
  /dev/shm is an error now rather than SIGBUS later), and a failed
  constructor never unlinks a segment it did not create;
- a message longer than ``max_message_size`` is refused before any call.

See docs/migrating.md for the full table of differences.
"""

from __future__ import annotations

import errno as _errno
import mmap as _mmap
import os as _os
import random as _random
import signal as _signal
from types import TracebackType
from typing import Any, Callable, TypeVar

from .. import _core
from .. import posix as _posix
from ..errors import naming as _naming
from ..posix import MessageQueue as _NativeQueue, Semaphore as _NativeSemaphore
from ._layer import ReadOnly, Unpicklable, both, translated

__all__ = [
    "Error", "SignalError", "PermissionsError", "ExistentialError", "BusyError",
    "Semaphore", "SharedMemory", "MessageQueue",
    "unlink_semaphore", "unlink_shared_memory", "unlink_message_queue",
    "O_CREAT", "O_EXCL", "O_CREX", "O_TRUNC", "O_RDONLY", "O_WRONLY", "O_RDWR", "O_NONBLOCK",
    "PAGE_SIZE", "SEMAPHORE_TIMEOUT_SUPPORTED", "SEMAPHORE_VALUE_SUPPORTED",
    "SEMAPHORE_VALUE_MAX", "MESSAGE_QUEUES_SUPPORTED", "QUEUE_MESSAGES_MAX_DEFAULT",
    "QUEUE_MESSAGE_SIZE_MAX_DEFAULT", "QUEUE_PRIORITY_MAX", "USER_SIGNAL_MIN",
    "USER_SIGNAL_MAX", "VERSION",
    "__version__", "__author__", "__license__", "__copyright__",
]

#: The posix_ipc API version this layer provides.
VERSION = "1.3.2"
__version__ = VERSION
__author__ = "the unixipc authors (API of posix_ipc by Philip Semanchuk)"
__license__ = "MIT"
__copyright__ = "unixipc; posix_ipc's API as published in posix_ipc 1.3.2"

O_CREAT: int = _os.O_CREAT
O_EXCL: int = _os.O_EXCL
O_CREX: int = O_CREAT | O_EXCL
O_TRUNC: int = _os.O_TRUNC
O_RDONLY: int = _os.O_RDONLY
O_WRONLY: int = _os.O_WRONLY
O_RDWR: int = _os.O_RDWR
#: In a MessageQueue's ``flags``: start with ``block`` False.
O_NONBLOCK: int = _os.O_NONBLOCK
PAGE_SIZE: int = _mmap.PAGESIZE
#: True: timed waits use sem_clockwait / mq_timedsend, and they work.
SEMAPHORE_TIMEOUT_SUPPORTED: bool = True
SEMAPHORE_VALUE_SUPPORTED: bool = True
SEMAPHORE_VALUE_MAX: int = _posix.SEM_VALUE_MAX
MESSAGE_QUEUES_SUPPORTED: bool = True
_LIMITS = _posix.limits()
#: A new queue's capacity unless the constructor is told: this IPC
#: namespace's /proc/sys/fs/mqueue/msg_default and msgsize_default, read at
#: import (posix_ipc fixes them when it is built).
QUEUE_MESSAGES_MAX_DEFAULT: int = _LIMITS.msg_default
QUEUE_MESSAGE_SIZE_MAX_DEFAULT: int = _LIMITS.msgsize_default
QUEUE_PRIORITY_MAX: int = _posix.MQ_PRIO_MAX - 1
USER_SIGNAL_MIN: int = int(_signal.SIGRTMIN)
USER_SIGNAL_MAX: int = int(_signal.SIGRTMAX)

#: Random names (``name=None``): "/" and 5..12 lowercase letters, as posix_ipc's.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
_T = TypeVar("_T")


# ---- exceptions ------------------------------------------------------------------


class Error(OSError):
    """Base class of this module's errors (posix_ipc's ``Error``), also an
    OSError, with ``errno`` set when a system call failed."""


class SignalError(Error):
    """Kept for posix_ipc's API, never raised: a wait that a signal
    interrupts runs the Python signal handlers and resumes with the time
    left (an exception a handler raises, KeyboardInterrupt say, ends it)."""


class PermissionsError(Error):
    """The object's permissions, or the handle's access (``read=False``,
    ``write=False``), do not allow the call; raised as a subclass that is
    also ``PermissionError``."""


class ExistentialError(Error):
    """The object does not exist (ENOENT), exists while ``O_EXCL`` was
    given (EEXIST), or the handle was closed; raised as a subclass that is
    also ``FileNotFoundError``, ``FileExistsError`` or (closed) ``ValueError``."""


class BusyError(Error):
    """A call would have waited with ``timeout=0`` or ``block`` false, a
    timeout ran out, or another process has the queue's notification
    (EBUSY); raised as a subclass that is also ``BlockingIOError`` or
    ``TimeoutError`` where one applies."""


_NotFound = both("ExistentialError", __name__, ExistentialError, FileNotFoundError)
_Exists = both("ExistentialError", __name__, ExistentialError, FileExistsError)
_Closed = both("ExistentialError", __name__, ExistentialError, ValueError)
_Denied = both("PermissionsError", __name__, PermissionsError, PermissionError)
_WouldBlock = both("BusyError", __name__, BusyError, BlockingIOError)
_TimedOut = both("BusyError", __name__, BusyError, TimeoutError)

#: unixipc's class -> the class raised here; the first match wins.
_TRANSLATION: tuple[tuple[type[OSError], type[OSError]], ...] = (
    (FileNotFoundError, _NotFound),
    (FileExistsError, _Exists),
    (PermissionError, _Denied),
    (TimeoutError, _TimedOut),
    (BlockingIOError, _WouldBlock),
)
#: errno -> the class raised here, for plain OSErrors.
_BY_ERRNO: dict[int, type[OSError]] = {_errno.EBUSY: BusyError, _errno.EBADF: _Closed}


def _translated(exc: OSError) -> OSError:
    """``exc`` (from unixipc) as the posix_ipc class it stands for; errors
    without one (ENOSPC, EMFILE) stay as they are, as posix_ipc raises a
    plain OSError for them."""
    return translated(exc, Error, _TRANSLATION, _BY_ERRNO)


def _call(fn: Callable[[], _T]) -> _T:
    """``fn()`` with unixipc's errors raised as posix_ipc's."""
    try:
        return fn()
    except OSError as exc:
        raise _translated(exc) from None


def _closed(what: str, name: str | None) -> OSError:
    return _Closed(_errno.EBADF, f"The {what} has been closed", name)


def _readonly(fget: Callable[[Any], _T]) -> ReadOnly[_T]:
    return ReadOnly(fget)


# ---- arguments ---------------------------------------------------------------------


def _check_flags(name: object, flags: object) -> tuple[bool, bool]:
    """posix_ipc's checks of ``flags``; ``(create, exclusive)``."""
    if not isinstance(flags, int):
        raise TypeError(f"flags must be an int, not {type(flags).__name__}")
    if flags & O_EXCL and not flags & O_CREAT:
        raise ValueError("O_EXCL must be combined with O_CREAT")
    if name is None and flags & O_CREX != O_CREX:
        raise ValueError("Name can only be None if O_EXCL is set")
    return bool(flags & O_CREAT), flags & O_CREX == O_CREX


#: The longest name of each kind after its "/" (semaphores lose 4 bytes to
#: the "sem." of their /dev/shm file).
_NAME_MAX = {"semaphore": 251, "shared memory": 255, "message queue": 255}


def _check_name(name: object, noun: str) -> str:
    """A name as posix_ipc takes it (str, or bytes in the file system
    encoding), checked by unixipc's rules (ValueError before any call)."""
    if isinstance(name, bytes):
        name = _os.fsdecode(name)
    if not isinstance(name, str):
        raise TypeError("Name must be None or a string")
    return _posix.check_name(name, noun, _NAME_MAX[noun])


def _random_name() -> str:
    return "/" + "".join(_random.choices(_ALPHABET, k=_random.randint(5, 12)))


def _open(make: Callable[[str], _T], name: object, noun: str) -> _T:
    """``make(name)``, errors as posix_ipc's; ``name=None`` draws random
    names until one is free (the caller has checked that ``O_CREX`` was
    given)."""
    if name is None:
        while True:
            try:
                return make(_random_name())
            except FileExistsError:
                continue
            except OSError as exc:
                raise _translated(exc) from None
    checked = _check_name(name, noun)
    return _call(lambda: make(checked))


def _wait(timeout: object) -> dict[str, Any]:
    """The native keywords for posix_ipc's ``timeout`` (not None): 0 never
    waits, > 0 waits at most that many seconds."""
    if isinstance(timeout, (int, float)) and timeout >= 0:
        if timeout == 0:
            return {"block": False}
        return {"timeout": float(timeout)}
    raise TypeError("The timeout must be None or a non-negative number")


def _quiet(native: Any) -> None:
    """posix_ipc's users are told to close, never warned: the native
    object behind a shim handle emits no ResourceWarning when collected
    unclosed (its finaliser does nothing); its C handle closes itself
    when its last reference goes, so nothing leaks either."""
    native._owner_pid = 0


class _Handle(Unpicklable):
    """What every handle here shares: as posix_ipc's, it cannot be pickled
    (a descriptor or a semaphore pointer means nothing in another
    process; open the object by name there)."""

    _reopen = "open it by its name in the other process"


# ---- semaphores --------------------------------------------------------------------


class Semaphore(_Handle):
    """A named POSIX semaphore, as posix_ipc's ``Semaphore``.

    ``Semaphore(name, flags=0, mode=0o600, initial_value=0)``: ``flags`` 0
    opens an existing semaphore, ``O_CREAT`` opens or creates, ``O_CREX``
    insists on a new one (``name=None`` then picks a free random name);
    ``initial_value`` is the value of a new one. ``with sem:`` acquires and
    releases; it never unlinks.
    """

    def __init__(self, name: str | bytes | None, flags: int = 0, mode: int = 0o600,
                 initial_value: int = 0) -> None:
        create, exclusive = _check_flags(name, flags)
        self._sem = _open(lambda n: _NativeSemaphore(n, create=create, exclusive=exclusive,
                                                     mode=mode, initial=initial_value),
                          name, "semaphore")
        _quiet(self._sem)
        self._name: str = self._sem.name or ""
        self._mode = mode
        self._acquire = self._sem.acquire
        self._bind_hot_calls()

    def _bind_hot_calls(self) -> None:
        """While the handle is open, ``release`` is the C handle's own
        method and ``acquire`` a closure over the C call (no method
        binding, no attribute lookups): the figures of
        bench/compat_posix_ipc.py. Anything but a plain ``acquire()``,
        and any error, goes to the class's method; close() removes both."""
        c_acquire, slow, translate = self._sem.acquire, self._acquire_slow, _translated

        def acquire(timeout: float | None = None) -> None:
            if timeout is None:
                try:
                    return c_acquire()
                except OSError as exc:
                    raise translate(exc) from None
                except ValueError:
                    pass  # closed: the class's method says so, as posix_ipc
            return slow(timeout)
        acquire.__doc__ = Semaphore.acquire.__doc__
        self.__dict__.update(acquire=acquire, release=self._sem.release)

    @property
    def native(self) -> _NativeSemaphore:
        """The :class:`unixipc.posix.Semaphore` behind this handle."""
        return self._sem

    def acquire(self, timeout: float | None = None) -> None:
        """Wait until the value is > 0 and take one.

        ``timeout`` None waits as long as needed, 0 does not wait, > 0
        waits at most that many seconds (on CLOCK_MONOTONIC); then
        BusyError. Signals do not end the wait: their Python handlers run
        and it resumes with the time left.

        Raises:
            BusyError: the value stayed 0 (also ``BlockingIOError`` for
                ``timeout=0``, ``TimeoutError`` when a timeout ran out).
            ExistentialError: the handle was closed.
            TypeError: ``timeout`` is negative or not a number.
        """
        self._acquire_slow(timeout)

    def _acquire_slow(self, timeout: float | None) -> None:
        try:
            if timeout is None:
                self._acquire()
            else:
                self._acquire(**_wait(timeout))
        except OSError as exc:
            raise _translated(exc) from None
        except ValueError:
            if self._sem.closed:
                raise _closed("semaphore", self._name) from None
            raise

    def release(self) -> None:
        """Add one to the value (sem_post; never waits)."""
        if self._sem.closed:
            raise _closed("semaphore", self._name)
        _call(self._sem.release)

    def close(self) -> None:
        """Close this process's handle; the semaphore and its name stay.

        Raises:
            ExistentialError: the handle is already closed (as posix_ipc).
        """
        if self._sem.closed:
            raise _closed("semaphore", self._name)
        for hot in ("acquire", "release"):
            self.__dict__.pop(hot, None)
        self._sem.close()

    def unlink(self) -> None:
        """Remove the name (also after :meth:`close`); processes holding
        the semaphore keep it until they close it.

        Raises:
            ExistentialError: no semaphore has this name now.
        """
        unlink_semaphore(self._name)

    def __enter__(self) -> Semaphore:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    @_readonly
    def name(self) -> str:
        """The semaphore's name, with its leading slash."""
        return self._name

    @_readonly
    def mode(self) -> int:
        """The mode given to the constructor."""
        return self._mode

    @_readonly
    def value(self) -> int:
        """The semaphore's value (sem_getvalue)."""
        if self._sem.closed:
            raise _closed("semaphore", self._name)
        return _call(lambda: self._sem.value)

    def __str__(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f'{__name__}.Semaphore("{self._name}", mode={self._mode:#o})'


# ---- shared memory -----------------------------------------------------------------


def _open_segment(name: str, flags: int, mode: int, size: int, read_only: bool) -> int:
    """shm_open as posix_ipc's constructor does it, over unixipc's code: a
    descriptor of the segment ``name``, sized to ``size`` unless 0."""
    create, exclusive = bool(flags & O_CREAT), flags & O_CREX == O_CREX
    created = sized = False
    if read_only:
        fd = _core.pshm_open(name, O_RDONLY | (flags & (O_CREX | O_TRUNC)), mode)
        created = exclusive
    elif exclusive:
        # Made unnamed, sized and allocated, then linked under its name.
        fd = _posix._create_segment_fd(name, size, mode)
        created = sized = True
    else:
        fd, created = _posix._open_named_segment(name, 0, mode, create, False)
        if flags & O_TRUNC and not created:
            _os.ftruncate(fd, 0)
    if size and not sized:
        try:
            _os.ftruncate(fd, size)
        except OSError as exc:
            _os.close(fd)
            if created:
                _core.pshm_unlink(name)
            if exc.errno in (_errno.EINVAL, _errno.EFBIG):
                raise ValueError(f"The size is invalid or the memory is read-only "
                                 f"({exc.strerror}): {name!r}") from None
            raise
    return fd


class SharedMemory(_Handle):
    """A named POSIX shared memory segment, as posix_ipc's ``SharedMemory``.

    ``SharedMemory(name, flags=0, mode=0o600, size=0, read_only=False)``:
    ``flags`` as for :class:`Semaphore`, plus ``O_TRUNC`` (an existing
    segment is emptied); a non-zero ``size`` (re)sizes the segment, new or
    not. The handle is the descriptor ``fd``: ``mmap.mmap(mem.fd,
    mem.size)`` maps it; ``close_fd()`` (or ``os.close(mem.fd)``) closes
    it, which leaves the mappings. As in posix_ipc the descriptor is this
    object's user's to close: it is never closed when the object is
    collected.
    """

    def __init__(self, name: str | bytes | None, flags: int = 0, mode: int = 0o600,
                 size: int = 0, read_only: bool = False) -> None:
        _check_flags(name, flags)
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"size must be an int, not {type(size).__name__}")
        if size < 0:
            raise OverflowError("can't convert negative int to unsigned")
        self._fd = -1

        def make(n: str) -> tuple[int, str]:
            with _naming(n):
                return _open_segment(n, flags, mode, size, bool(read_only)), n
        self._fd, self._name = _open(make, name, "shared memory")
        self._mode = mode

    def close_fd(self) -> None:
        """Close the descriptor (mappings made from it stay); ``fd`` is -1
        after. Idempotent, as posix_ipc's."""
        fd = self._fd
        if fd != -1:
            try:
                _os.close(fd)
            except OSError as exc:
                if exc.errno == _errno.EBADF:
                    raise ValueError("The file descriptor is invalid") from None
                raise
            self._fd = -1

    def fileno(self) -> int:
        """The descriptor (as ``fd``)."""
        return self._fd

    def unlink(self) -> None:
        """Remove the name: the memory goes once no process maps it or
        holds a descriptor of it.

        Raises:
            ExistentialError: no segment has this name now.
        """
        unlink_shared_memory(self._name)

    @_readonly
    def name(self) -> str:
        """The segment's name, with its leading slash."""
        return self._name

    @_readonly
    def mode(self) -> int:
        """The mode given to the constructor."""
        return self._mode

    @_readonly
    def fd(self) -> int:
        """The segment's descriptor; -1 after :meth:`close_fd`."""
        return self._fd

    @_readonly
    def size(self) -> int:
        """The segment's size in bytes now (fstat).

        Raises:
            ExistentialError: the descriptor is closed.
        """
        try:
            return _os.fstat(self._fd).st_size
        except OSError as exc:
            if exc.errno == _errno.EBADF:
                raise _Closed(_errno.EBADF, "The segment does not exist", self._name) from None
            raise _translated(exc) from None

    def __str__(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f'{__name__}.SharedMemory("{self._name}", mode={self._mode:#o})'


# ---- message queues ----------------------------------------------------------------


class MessageQueue(_Handle):
    """A POSIX message queue, as posix_ipc's ``MessageQueue``.

    ``MessageQueue(name, flags=0, mode=0o600,
    max_messages=QUEUE_MESSAGES_MAX_DEFAULT,
    max_message_size=QUEUE_MESSAGE_SIZE_MAX_DEFAULT, read=True,
    write=True)``: ``flags`` as for :class:`Semaphore` (with
    ``O_NONBLOCK``, ``block`` starts False); the capacity applies to a new
    queue. ``send`` and ``receive`` wait unless ``block`` is False or a
    ``timeout`` says otherwise.
    """

    def __init__(self, name: str | bytes | None, flags: int = 0, mode: int = 0o600,
                 max_messages: int = QUEUE_MESSAGES_MAX_DEFAULT,
                 max_message_size: int = QUEUE_MESSAGE_SIZE_MAX_DEFAULT,
                 read: bool = True, write: bool = True) -> None:
        create, exclusive = _check_flags(name, flags)
        read, write = bool(read), bool(write)
        if not (read or write):
            raise ValueError("At least one of read or write must be True")
        size = {"max_messages": max_messages, "max_message_size": max_message_size} \
            if create else {}
        self._queue = _open(lambda n: _NativeQueue(n, create=create, exclusive=exclusive,
                                                   mode=mode, read=read, write=write, **size),
                            name, "message queue")
        _quiet(self._queue)
        self._name = self._queue.name
        self._mode = mode
        self._block = not flags & O_NONBLOCK
        attributes = self._queue.attributes()
        self._max_messages = attributes.max_messages
        self._max_message_size = attributes.max_message_size
        self._send = self._queue.send
        self._receive = self._queue.receive
        if self._block:
            self._bind_hot_calls()

    def _bind_hot_calls(self) -> None:
        """While the handle is open and ``block`` is True, ``send`` and
        ``receive`` are closures over the C calls (no method binding, no
        attribute lookups): the figures of bench/compat_posix_ipc.py.
        Anything but a plain call of bytes at priority 0 or a plain
        receive, and a ValueError (closed, too long), goes to the class's
        method; close() and ``block = False`` remove them."""
        c_send, c_receive, translate = self._send, self._receive, _translated
        slow_send, slow_receive = self._send_slow, self._receive_slow

        def send(message: Any, timeout: float | None = None, priority: int = 0) -> None:
            if timeout is None and priority == 0 and message.__class__ is not str:
                try:
                    return c_send(message)
                except OSError as exc:
                    raise translate(exc) from None
                except ValueError:
                    pass  # refused before any call: the class's method says why
            return slow_send(message, timeout, priority)

        def receive(timeout: float | None = None) -> tuple[bytes, int]:
            if timeout is None:
                try:
                    return c_receive()
                except OSError as exc:
                    raise translate(exc) from None
                except ValueError:
                    pass
            return slow_receive(timeout)
        send.__doc__, receive.__doc__ = MessageQueue.send.__doc__, MessageQueue.receive.__doc__
        self.__dict__.update(send=send, receive=receive)

    def _unbind_hot_calls(self) -> None:
        for hot in ("send", "receive"):
            self.__dict__.pop(hot, None)

    @property
    def native(self) -> _NativeQueue:
        """The :class:`unixipc.posix.MessageQueue` behind this handle."""
        return self._queue

    def _gone(self) -> OSError:
        return _closed("queue", self._name)

    def send(self, message: Any, timeout: float | None = None, priority: int = 0) -> None:
        """Put ``message`` (bytes-like, or ``str``: sent as UTF-8) on the
        queue with ``priority`` (0..QUEUE_PRIORITY_MAX; higher is received
        first), waiting for room as ``timeout`` and ``block`` say.

        Raises:
            ValueError: the message is longer than ``max_message_size``,
                or ``priority`` is out of range (before any call).
            BusyError: the queue stayed full.
            PermissionsError: the handle was opened with ``write=False``.
            ExistentialError: the handle was closed.
        """
        self._send_slow(message, timeout, priority)

    def _send_slow(self, message: Any, timeout: float | None, priority: int) -> None:
        if message.__class__ is str:
            message = message.encode()
        try:
            if timeout is None and self._block:
                if priority == 0:
                    self._send(message)
                else:
                    self._send(message, priority)
            elif not self._block:
                self._send(message, priority, block=False)
            else:
                self._send(message, priority, **_wait(timeout))
        except OSError as exc:
            raise _translated(exc) from None
        except ValueError:
            if self._queue.closed:
                raise self._gone() from None
            raise

    def receive(self, timeout: float | None = None) -> tuple[bytes, int]:
        """Take the oldest message of the highest priority: ``(message,
        priority)``, waiting as ``timeout`` and ``block`` say.

        Raises:
            BusyError: the queue stayed empty.
            PermissionsError: the handle was opened with ``read=False``.
            ExistentialError: the handle was closed.
        """
        return self._receive_slow(timeout)

    def _receive_slow(self, timeout: float | None) -> tuple[bytes, int]:
        try:
            if timeout is None and self._block:
                return self._receive()
            if not self._block:
                return self._receive(block=False)
            return self._receive(**_wait(timeout))
        except OSError as exc:
            raise _translated(exc) from None
        except ValueError:
            if self._queue.closed:
                raise self._gone() from None
            raise

    def request_notification(self, notification: Any = None) -> None:
        """Be told once when a message arrives on the empty queue (while no
        process waits in ``receive``): ``notification`` an int sends that
        signal, ``(function, param)`` calls ``function(param)`` in a new
        thread, None cancels. Ask again to be told again.

        Raises:
            BusyError: another process has the queue's notification (EBUSY).
            ValueError: ``notification`` is none of these.
        """
        if self._queue.closed:
            raise self._gone()
        queue = self._queue
        if notification is None:
            register: Callable[[], None] | None = None
        elif isinstance(notification, int):
            signum = int(notification)

            def register() -> None:
                queue.notify(signal=signum)
        elif isinstance(notification, tuple) and len(notification) == 2 and \
                callable(notification[0]):
            function, param = notification

            def register() -> None:
                queue.notify(lambda: function(param))
        else:
            raise ValueError("The notification must be None, an integer, or a tuple of "
                             "(function, parameter)")
        # As posix_ipc: this process's request is cancelled first (so a
        # handle may ask again, or change how it is told); another
        # process's stays, and registering then is EBUSY.
        _call(lambda: queue.notify(None))
        if register is not None:
            _call(register)

    def close(self) -> None:
        """Close this handle (and its notification request); the queue and
        its name stay.

        Raises:
            ExistentialError: the handle is already closed (as posix_ipc).
        """
        if self._queue.closed:
            raise self._gone()
        self._unbind_hot_calls()
        self._queue.close()

    def unlink(self) -> None:
        """Remove the name (also after :meth:`close`); processes holding
        the queue keep it until they close it.

        Raises:
            ExistentialError: no queue has this name now.
        """
        unlink_message_queue(self._name)

    def fileno(self) -> int:
        """The queue's descriptor (as ``mqd``; -1 once closed): selectors
        see it readable when a message waits."""
        return -1 if self._queue.closed else self._queue.fileno()

    @_readonly
    def mqd(self) -> int:
        """The queue's descriptor; -1 once closed."""
        return self.fileno()

    @_readonly
    def name(self) -> str:
        """The queue's name, with its leading slash."""
        return self._name

    @_readonly
    def mode(self) -> int:
        """The mode given to the constructor."""
        return self._mode

    @property
    def block(self) -> bool:
        """False: ``send`` and ``receive`` never wait (BusyError instead),
        whatever their timeout. Of this handle only."""
        return self._block

    @block.setter
    def block(self, value: bool) -> None:
        if self._queue.closed:
            raise self._gone()
        self._block = bool(value)
        if self._block:
            self._bind_hot_calls()
        else:
            self._unbind_hot_calls()

    @_readonly
    def max_messages(self) -> int:
        """How many messages the queue holds at most."""
        return self._max_messages

    @_readonly
    def max_message_size(self) -> int:
        """The longest message, in bytes."""
        return self._max_message_size

    @_readonly
    def current_messages(self) -> int:
        """How many messages the queue holds now (mq_getattr)."""
        if self._queue.closed:
            raise self._gone()
        return _call(self._queue.attributes).current_messages

    def __str__(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f'{__name__}.MessageQueue("{self._name}", mode={self._mode:#o})'


# ---- module functions --------------------------------------------------------------


def _unlink(unlink: Callable[[str], None], name: str | bytes, noun: str) -> None:
    checked = _check_name(name, noun)

    def run() -> None:
        with _naming(checked):
            unlink(checked)
    _call(run)


def unlink_semaphore(name: str | bytes) -> None:
    """Remove the semaphore's name (sem_unlink)."""
    _unlink(_core.psem_unlink, name, "semaphore")


def unlink_shared_memory(name: str | bytes) -> None:
    """Remove the shared memory segment's name (shm_unlink)."""
    _unlink(_core.pshm_unlink, name, "shared memory")


def unlink_message_queue(name: str | bytes) -> None:
    """Remove the message queue's name (mq_unlink)."""
    _unlink(_core.pmq_unlink, name, "message queue")
