"""The sysv_ipc 1.2.0 API over unixipc's own System V classes.

``import unixipc.compat.sysv_ipc as sysv_ipc`` is the whole migration: the
names, signatures, defaults, tuple orders and exception classes are
sysv_ipc's (``receive()`` returns ``(data, type)``, ``acquire(2)`` waits at
most 2 seconds, ``release()`` is never undone, ``str`` messages are sent as
UTF-8, flags are ``IPC_CREX``, status fields are attributes), while the work
is done by :class:`unixipc.MessageQueue`, :class:`unixipc.SemaphoreSet` and
:class:`unixipc.SharedMemory`. What the layer fixes over the package:

- semaphore timeouts work (semtimedop): ``SEMAPHORE_TIMEOUT_SUPPORTED`` is
  True, where sysv_ipc's Linux build silently waits forever;
- a signal never ends a wait with an error: EINTR is retried with the time
  left, after Python's signal handlers ran (sysv_ipc raises
  ``Error("Signaled while waiting")``);
- every exception is also the OSError subclass unixipc raises, with
  ``errno`` set: ``ExistentialError`` is also ``FileNotFoundError``,
  ``FileExistsError`` or :class:`unixipc.ObjectRemovedError`,
  ``PermissionsError`` is also ``PermissionError``, ``BusyError`` is also
  ``BlockingIOError`` or ``TimeoutError``; so old and new ``except``
  clauses both work;
- a shared memory segment cannot be detached while views of it exist
  (BufferError), so no view is ever left pointing at unmapped memory;
  attaching again detaches the previous mapping instead of leaking it;
- a key that does not fit C's ``key_t`` is refused (ValueError) instead of
  being silently truncated to another key.

See docs/migrating.md for the full table of differences.
"""

from __future__ import annotations

import errno as _errno
import mmap as _mmap
import random as _random
import warnings as _warnings
from types import TracebackType
from typing import Any, Callable, TypeVar

from .. import _core
from ..errors import ObjectRemovedError
from ..keys import ftok as _native_ftok
from ..msg import MessageQueue as _NativeQueue, MessageQueueStat as _QueueStat
from ..sem import SEMVMX as _SEMVMX, SemaphoreSet as _NativeSemaphoreSet, SemaphoreSetStat
from ..shm import SharedMemory as _NativeSharedMemory, SharedMemoryStat as _SegmentStat
from ._layer import ReadOnly, Unpicklable, both, translated

__all__ = [
    "Error", "InternalError", "PermissionsError", "ExistentialError", "BusyError",
    "NotAttachedError",
    "MessageQueue", "Semaphore", "SharedMemory",
    "attach", "ftok", "remove_message_queue", "remove_semaphore", "remove_shared_memory",
    "IPC_CREAT", "IPC_EXCL", "IPC_CREX", "IPC_PRIVATE", "KEY_MIN", "KEY_MAX",
    "SHM_RDONLY", "SHM_RND", "SHM_HUGETLB", "SHM_NORESERVE", "SHM_REMAP", "PAGE_SIZE",
    "SEMAPHORE_VALUE_MAX", "SEMAPHORE_TIMEOUT_SUPPORTED", "VERSION",
    "__version__", "__author__", "__license__", "__copyright__",
]

#: The sysv_ipc API version this layer provides.
VERSION = "1.2.0"
__version__ = VERSION
__author__ = "the unixipc authors (API of sysv_ipc by Philip Semanchuk)"
__license__ = "MIT"
__copyright__ = "unixipc; sysv_ipc's API as published in sysv_ipc 1.2.0"

IPC_CREAT: int = _core.IPC_CREAT
IPC_EXCL: int = _core.IPC_EXCL
IPC_CREX: int = IPC_CREAT | IPC_EXCL
IPC_PRIVATE: int = _core.IPC_PRIVATE
#: The keys accepted: C's ``key_t`` (sysv_ipc's are a C long's, then
#: silently truncated to ``key_t``). Unsigned ``ipcs``-style keys up to
#: 2**32-1 are accepted too.
KEY_MIN: int = -(2**31)
KEY_MAX: int = 2**31 - 1
SHM_RDONLY: int = _core.SHM_RDONLY
# Linux's <sys/shm.h> values.
SHM_RND: int = 0o20000
SHM_HUGETLB: int = 0o4000
SHM_NORESERVE: int = 0o10000
SHM_REMAP: int = 0o40000
PAGE_SIZE: int = _mmap.PAGESIZE
SEMAPHORE_VALUE_MAX: int = _SEMVMX
#: True: timed waits use semtimedop, and they work.
SEMAPHORE_TIMEOUT_SUPPORTED: bool = True

#: sysv_ipc's default receive buffer of a queue.
_DEFAULT_MAX_MESSAGE_SIZE = 2048
#: Random keys for ``key=None`` are drawn from 1..this (positive, as sysv_ipc's).
_RANDOM_KEY_MAX = 2**31 - 1
_T = TypeVar("_T")


# ---- exceptions ------------------------------------------------------------------


class Error(OSError):
    """Base class of this module's errors (sysv_ipc's ``Error``), also an
    OSError, with ``errno`` set when a system call failed."""


class InternalError(Error):
    """Something went wrong inside the layer (kept for sysv_ipc's API)."""


class PermissionsError(Error):
    """The object's permissions do not allow the call (EACCES, EPERM);
    raised as a subclass that is also ``PermissionError``."""


class ExistentialError(Error):
    """The object does not exist (ENOENT, or it was removed: EIDRM/EINVAL),
    or it exists and ``IPC_EXCL`` was given (EEXIST); raised as a subclass
    that is also ``FileNotFoundError``, :class:`unixipc.ObjectRemovedError`
    or ``FileExistsError``."""


class BusyError(Error):
    """A non-blocking call would have waited, or a timeout ran out; raised
    as a subclass that is also ``BlockingIOError`` or ``TimeoutError``."""


class NotAttachedError(Error):
    """A shared memory segment was read, written or detached while this
    handle has it detached."""


def _both(name: str, *bases: type[OSError]) -> type[OSError]:
    """A class that is a sysv_ipc error and unixipc's OSError subclass at
    once, shown under the sysv_ipc name."""
    return both(name, __name__, *bases)


_NotFound = _both("ExistentialError", ExistentialError, FileNotFoundError)
_Exists = _both("ExistentialError", ExistentialError, FileExistsError)
_Removed = _both("ExistentialError", ExistentialError, ObjectRemovedError)
_Denied = _both("PermissionsError", PermissionsError, PermissionError)
_WouldBlock = _both("BusyError", BusyError, BlockingIOError)
_TimedOut = _both("BusyError", BusyError, TimeoutError)

#: unixipc's class -> the class raised here; the first match wins.
_TRANSLATION: tuple[tuple[type[OSError], type[OSError]], ...] = (
    (ObjectRemovedError, _Removed),
    (FileNotFoundError, _NotFound),
    (FileExistsError, _Exists),
    (PermissionError, _Denied),
    (TimeoutError, _TimedOut),
    (BlockingIOError, _WouldBlock),
)


def _translated(exc: OSError) -> OSError:
    """``exc`` (from unixipc) as the sysv_ipc class it stands for, errno,
    message and object name kept; errors without a sysv_ipc class (ENOSPC,
    E2BIG) are returned as they are, as sysv_ipc raises a plain OSError."""
    return translated(exc, Error, _TRANSLATION)


def _call(fn: Callable[[], _T]) -> _T:
    """``fn()`` with unixipc's errors raised as sysv_ipc's."""
    try:
        return fn()
    except OSError as exc:
        raise _translated(exc) from None


# ---- read-only attributes ----------------------------------------------------------


def _readonly(fget: Callable[[Any], _T]) -> ReadOnly[_T]:
    return ReadOnly(fget)


def _readonly_id(fget: Callable[[Any], _T]) -> ReadOnly[_T]:
    """``id``: a plain C member in sysv_ipc, whose message differs."""
    return ReadOnly(fget, "readonly attribute")


# ---- opening -----------------------------------------------------------------------


def _check_flags(key: int | None, flags: int) -> tuple[bool, bool]:
    """sysv_ipc's checks of ``flags``; ``(create, exclusive)``."""
    if isinstance(flags, bool) or not isinstance(flags, int):
        raise TypeError(f"flags must be an int, not {type(flags).__name__}")
    if flags & IPC_EXCL and not flags & IPC_CREAT:
        raise ValueError("IPC_EXCL must be combined with IPC_CREAT")
    if key is None and not flags & IPC_EXCL:
        raise ValueError("Key can only be None if IPC_EXCL is set")
    return bool(flags & IPC_CREAT), bool(flags & IPC_EXCL)


def _check_key(key: object) -> int | None:
    if key is not None and (isinstance(key, bool) or not isinstance(key, int)):
        raise TypeError("Key must be an integer or None")
    return key


def _open(make: Callable[[int, bool, bool], _T], key: int | None, flags: int) -> _T:
    """``make(key, create, exclusive)``, errors as sysv_ipc's; ``key=None``
    draws random keys until one is free (sysv_ipc's meaning of None: a new
    object with a real key, not IPC_PRIVATE)."""
    key = _check_key(key)
    create, exclusive = _check_flags(key, flags)
    if key is None:
        while True:
            try:
                return make(_random.randint(1, _RANDOM_KEY_MAX), True, True)
            except FileExistsError:
                continue
            except OSError as exc:
                raise _translated(exc) from None
    c_key = key
    return _call(lambda: make(c_key, create, exclusive))


def _utf8(data: Any) -> Any:
    """A ``str`` message as sysv_ipc sends it: UTF-8."""
    return data.encode() if isinstance(data, str) else data


# ---- message queues ----------------------------------------------------------------


class _Owned(Unpicklable):
    """The owner and mode properties every sysv_ipc object has, from the
    subclass's ``_stat()`` (its ``perm``) and ``_set_perm(**fields)``.
    As sysv_ipc's objects, they cannot be pickled."""

    _reopen = "open it by its key in the other process"

    def _stat(self) -> Any:
        raise NotImplementedError

    def _set_perm(self, **fields: int) -> None:
        raise NotImplementedError

    @property
    def uid(self) -> int:
        return int(self._stat().perm.uid)

    @uid.setter
    def uid(self, value: int) -> None:
        self._set_perm(uid=value)

    @property
    def gid(self) -> int:
        return int(self._stat().perm.gid)

    @gid.setter
    def gid(self, value: int) -> None:
        self._set_perm(gid=value)

    @property
    def mode(self) -> int:
        return int(self._stat().perm.mode)

    @mode.setter
    def mode(self, value: int) -> None:
        self._set_perm(mode=value)

    @_readonly
    def cuid(self) -> int:
        return int(self._stat().perm.cuid)

    @_readonly
    def cgid(self) -> int:
        return int(self._stat().perm.cgid)


class MessageQueue(_Owned):
    """A System V message queue, as sysv_ipc's ``MessageQueue``.

    ``MessageQueue(key, flags=0, mode=0o600, max_message_size=2048)``:
    ``flags`` 0 opens an existing queue, ``IPC_CREAT`` opens or creates,
    ``IPC_CREX`` insists on a new one; ``key=None`` (with ``IPC_CREX``)
    picks a random free key. ``max_message_size`` bounds what ``send``
    accepts and what ``receive`` can take (a longer message raises
    OSError E2BIG and stays queued).
    """

    def __init__(self, key: int | None, flags: int = 0, mode: int = 0o600,
                 max_message_size: int = _DEFAULT_MAX_MESSAGE_SIZE) -> None:
        if isinstance(max_message_size, bool) or not isinstance(max_message_size, int):
            raise TypeError("max_message_size must be an int")
        if not 0 <= max_message_size < 2**63:
            raise ValueError(f"The message length must be <= {2**63 - 1}")
        self._queue = _open(lambda k, c, x: _NativeQueue(k, create=c, exclusive=x, mode=mode),
                            key, flags)
        self._max_message_size = max_message_size
        self._send = self._queue.send
        self._receive = self._queue.receive
        self._bind_hot_calls()

    @classmethod
    def _from_native(cls, queue: _NativeQueue) -> MessageQueue:
        self = cls.__new__(cls)
        self._queue = queue
        self._max_message_size = _DEFAULT_MAX_MESSAGE_SIZE
        self._send, self._receive = queue.send, queue.receive
        self._bind_hot_calls()
        return self

    def _bind_hot_calls(self) -> None:
        """``send`` of bytes and a blocking ``receive`` are closures over the
        C calls (no method binding, no attribute lookups: as fast as the
        package, bench/compat_sysv_ipc.py); anything else goes to the
        class's methods, which also translate every error."""
        c_send, c_receive, limit = self._send, self._receive, self._max_message_size
        slow_send, slow_receive, translate = self._send_slow, self._receive_slow, _translated

        def send(message: Any, block: bool = True, type: int = 1) -> None:
            if block is True and message.__class__ is bytes and len(message) <= limit:
                try:  # a type < 1 is the native ValueError
                    return c_send(message, type)
                except OSError as exc:
                    raise translate(exc) from None
            slow_send(message, block, type)

        def receive(block: bool = True, type: int = 0) -> tuple[bytes, int]:
            if block is True:
                try:
                    kind, data = c_receive(type, max_size=limit)
                except OSError as exc:
                    raise translate(exc) from None
                return (data, kind)
            return slow_receive(block, type)
        send.__doc__, receive.__doc__ = MessageQueue.send.__doc__, MessageQueue.receive.__doc__
        self.__dict__.update(send=send, receive=receive)

    @property
    def native(self) -> _NativeQueue:
        """The :class:`unixipc.MessageQueue` behind this handle."""
        return self._queue

    def send(self, message: Any, block: bool = True, type: int = 1) -> None:
        """Put ``message`` (bytes-like, or ``str``: sent as UTF-8) on the
        queue with ``type`` (> 0), waiting for room unless ``block`` is
        false (then BusyError).

        Raises:
            ValueError: ``type`` < 1, or the message is longer than
                ``max_message_size``.
            BusyError: ``block`` is false and the queue is full.
            ExistentialError: the queue was removed (also while waiting).
        """
        self._send_slow(message, block, type)

    def _send_slow(self, message: Any, block: bool, type: int) -> None:
        if message.__class__ is not bytes:
            message = _utf8(message)
            size = memoryview(message).nbytes
        else:
            size = len(message)
        if size > self._max_message_size:
            raise ValueError(f"The message length must be <= {self._max_message_size}")
        try:  # a type < 1 is the native ValueError
            if block:
                self._send(message, type)
            else:
                self._send(message, type, block=False)
        except OSError as exc:
            raise _translated(exc) from None

    def receive(self, block: bool = True, type: int = 0) -> tuple[bytes, int]:
        """Take a message: ``(data, type)``.

        ``type`` 0 takes the first message, > 0 the first of that type,
        < 0 the first of the lowest type <= ``abs(type)``. Waits unless
        ``block`` is false (then BusyError).
        """
        return self._receive_slow(block, type)

    def _receive_slow(self, block: bool, type: int) -> tuple[bytes, int]:
        try:
            kind, data = self._receive(type, block=True if block else False,
                                       max_size=self._max_message_size)
        except OSError as exc:
            raise _translated(exc) from None
        return (data, kind)

    def remove(self) -> None:
        """Remove the queue (IPC_RMID); waiting processes wake with
        ExistentialError."""
        _call(self._queue.remove)

    def _stat(self) -> _QueueStat:
        return _call(self._queue.stat)

    def _set(self, **fields: int) -> None:
        _call(lambda: self._queue.set(**fields))

    _set_perm = _set

    @_readonly
    def key(self) -> int:
        """The key the queue was opened with."""
        return self._queue.key

    @_readonly_id
    def id(self) -> int:
        """The queue's id (msqid)."""
        return self._queue.id

    @property
    def max_size(self) -> int:
        """The most bytes the queue may hold (``msg_qbytes``); settable."""
        return self._stat().max_bytes

    @max_size.setter
    def max_size(self, value: int) -> None:
        self._set(max_bytes=value)

    @_readonly
    def last_send_time(self) -> int:
        return self._stat().send_time

    @_readonly
    def last_receive_time(self) -> int:
        return self._stat().receive_time

    @_readonly
    def last_change_time(self) -> int:
        return self._stat().change_time

    @_readonly
    def last_send_pid(self) -> int:
        return self._stat().last_send_pid

    @_readonly
    def last_receive_pid(self) -> int:
        return self._stat().last_receive_pid

    @_readonly
    def current_messages(self) -> int:
        return self._stat().message_count

    def __repr__(self) -> str:
        return f"{__name__}.MessageQueue({self._queue.key})"


# ---- semaphores --------------------------------------------------------------------


class Semaphore(_Owned):
    """One System V semaphore (a set of one), as sysv_ipc's ``Semaphore``.

    ``Semaphore(key, flags=0, mode=0o600, initial_value=0)``:
    ``initial_value`` is set only when ``flags`` has ``IPC_CREX``. The
    ``block`` attribute (default True) makes waits non-blocking when false;
    ``undo`` (default False) asks the kernel to reverse this process's
    changes when it exits.
    """

    def __init__(self, key: int | None, flags: int = 0, mode: int = 0o600,
                 initial_value: int = 0) -> None:
        self._set = _open(lambda k, c, x: _NativeSemaphoreSet(k, 1, create=c, exclusive=x,
                                                              mode=mode), key, flags)
        self._sem = self._set[0]
        self._op = self._set.op
        self._block, self._undo = True, False
        self._ops()
        if flags & IPC_CREX == IPC_CREX:
            self.value = initial_value

    @property
    def native(self) -> _NativeSemaphoreSet:
        """The :class:`unixipc.SemaphoreSet` (of one) behind this handle."""
        return self._set

    def _ops(self) -> None:
        """The semop flags (and the one-step operations) for ``block`` and
        ``undo`` as they are now: one semop per call, no keyword parsing."""
        undo = _core.SEM_UNDO if self._undo else 0
        self._take_flags = undo | (0 if self._block else _core.IPC_NOWAIT)
        self._give_flags = undo
        self._take_one = (0, -1, self._take_flags)
        self._give_one = (0, 1, self._give_flags)
        self._bind_hot_calls()

    def _bind_hot_calls(self) -> None:
        """A plain ``acquire()`` (when ``block``) and ``release()`` are
        closures over the native semaphore's C calls (no method binding, no
        attribute lookups, the C calls' own fast paths: as fast as the
        package, bench/compat_sysv_ipc.py); anything else goes to the
        class's methods. Rebound when ``block`` or ``undo`` change."""
        c_acquire, c_release, undo = self._sem.acquire, self._sem.release, self._undo
        slow_acquire, slow_release, translate = self._acquire_slow, self._release_slow, _translated
        block = self._block

        def acquire(timeout: float | None = None, delta: int = 1) -> None:
            if timeout is None and delta == 1 and block:
                try:
                    return c_acquire(undo=undo)
                except OSError as exc:
                    raise translate(exc) from None
            slow_acquire(timeout, delta)

        def release(delta: int = 1) -> None:
            if delta == 1:
                try:
                    return c_release(undo=undo)
                except OSError as exc:
                    raise translate(exc) from None
            slow_release(delta)
        acquire.__doc__, release.__doc__ = Semaphore.acquire.__doc__, Semaphore.release.__doc__
        self.__dict__.update(acquire=acquire, release=release, P=acquire, V=release)

    @property
    def block(self) -> bool:
        """False: ``acquire`` and ``Z`` never wait (BusyError instead)."""
        return self._block

    @block.setter
    def block(self, value: bool) -> None:
        self._block = bool(value)
        self._ops()

    @property
    def undo(self) -> bool:
        """True: the kernel reverses this process's changes when it exits
        (SEM_UNDO). Default False, as in sysv_ipc."""
        return self._undo

    @undo.setter
    def undo(self, value: bool) -> None:
        self._undo = bool(value)
        self._ops()

    def acquire(self, timeout: float | None = None, delta: int = 1) -> None:
        """Wait until the value is at least ``abs(delta)`` and subtract it.

        ``timeout`` None waits as long as needed, 0 does not wait, > 0
        waits at most that many seconds; then BusyError. When ``block`` is
        false the call never waits (the timeout is not used).

        Raises:
            ValueError: ``delta`` is 0.
            BusyError: it would wait (``block`` false, or ``timeout`` ran out).
            ExistentialError: the semaphore was removed (also while waiting).
        """
        self._acquire_slow(timeout, delta)

    def _acquire_slow(self, timeout: float | None, delta: int) -> None:
        try:
            if delta == 1 and timeout is None:
                self._op(self._take_one)
                return
            if delta == 0:
                raise ValueError("The delta must be non-zero")
            op = (0, -abs(delta), self._take_flags)
            if timeout is None or not self._block:
                self._op(op)
            else:
                self._op(op, timeout=timeout)
        except OSError as exc:
            raise _translated(exc) from None

    def release(self, delta: int = 1) -> None:
        """Add ``abs(delta)`` to the value (never waits)."""
        self._release_slow(delta)

    def _release_slow(self, delta: int) -> None:
        try:
            if delta == 1:
                self._op(self._give_one)
                return
            if delta == 0:
                raise ValueError("The delta must be non-zero")
            self._op((0, abs(delta), self._give_flags))
        except OSError as exc:
            raise _translated(exc) from None

    def Z(self, timeout: float | None = None) -> None:
        """Wait until the value is 0 (``timeout`` and ``block`` as in
        :meth:`acquire`)."""
        try:
            if self.block:
                self._sem.wait_zero(timeout=timeout)
            else:
                self._sem.wait_zero(block=False)
        except OSError as exc:
            raise _translated(exc) from None

    P = acquire
    V = release

    def remove(self) -> None:
        """Remove the semaphore (IPC_RMID); waiters wake with ExistentialError."""
        _call(self._set.remove)

    def __enter__(self) -> Semaphore:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def _stat(self) -> SemaphoreSetStat:
        return _call(self._set.stat)

    def _set_perm(self, **fields: int) -> None:
        _call(lambda: self._set.set(**fields))

    @_readonly
    def key(self) -> int:
        return self._set.key

    @_readonly_id
    def id(self) -> int:
        return self._set.id

    @property
    def value(self) -> int:
        """The semaphore's value (GETVAL; setting it is SETVAL)."""
        return _call(lambda: self._sem.value)

    @value.setter
    def value(self, value: int) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and \
                not 0 <= value <= SEMAPHORE_VALUE_MAX:
            raise ValueError("The semaphore's value must remain between 0 and SEMVMX")

        def setval() -> None:
            self._sem.value = value
        _call(setval)

    @_readonly
    def last_pid(self) -> int:
        return _call(lambda: self._sem.last_pid)

    @_readonly
    def waiting_for_nonzero(self) -> int:
        return _call(lambda: self._sem.ncount)

    @_readonly
    def waiting_for_zero(self) -> int:
        return _call(lambda: self._sem.zcount)

    @_readonly
    def o_time(self) -> int:
        return self._stat().op_time

    def __repr__(self) -> str:
        return f"{__name__}.Semaphore({self._set.key})"


# ---- shared memory -----------------------------------------------------------------


class SharedMemory(_Owned, _core.BufferForwarder):
    """A System V shared memory segment, as sysv_ipc's ``SharedMemory``.

    ``SharedMemory(key, flags=0, mode=0o600, size=0, init_character=b' ')``:
    a new segment (``IPC_CREX``) is ``PAGE_SIZE`` bytes unless ``size`` says
    otherwise and is filled with ``init_character``. The segment is attached
    on construction. The handle supports the buffer protocol
    (``memoryview(mem)``, ``bytearray(mem)``): the view is one of the
    attached segment, so it keeps ``detach()`` from pulling the memory away.
    """

    _view: memoryview | None
    _attachment: _core.Attachment | None

    def __init__(self, key: int | None, flags: int = 0, mode: int = 0o600, size: int = 0,
                 init_character: bytes = b" ") -> None:
        crex = flags & IPC_CREX == IPC_CREX if isinstance(flags, int) else False
        if size == 0 and crex:
            size = PAGE_SIZE
        self._segment = _open(lambda k, c, x: _open_segment(k, c, x, size, mode, flags),
                              key, flags & (IPC_CREAT | IPC_EXCL) if isinstance(flags, int)
                              else flags)
        self._view = self._attachment = None
        # As sysv_ipc: attached read-only when the mode has no owner write bit,
        # and a segment made with IPC_CREX filled with init_character.
        self.attach(None, 0 if mode & 0o200 else SHM_RDONLY)
        if crex and not self._view_readonly():
            fill = init_character if isinstance(init_character, bytes) else \
                str(init_character).encode()
            if len(fill) != 1:
                raise TypeError("init_character must be a single byte")
            assert self._view is not None
            self._view[:] = fill * len(self._view)

    @classmethod
    def _from_native(cls, segment: _NativeSharedMemory) -> SharedMemory:
        self = cls.__new__(cls)
        self._segment = segment
        self._view = self._attachment = None
        return self

    @property
    def native(self) -> _NativeSharedMemory:
        """The :class:`unixipc.SharedMemory` behind this handle."""
        return self._segment

    def _view_readonly(self) -> bool:
        return self._view is None or self._view.readonly

    def attach(self, address: int | None = None, flags: int = 0) -> None:
        """Attach the segment (``shmat``), read-only with ``SHM_RDONLY``.

        Attaching an attached handle detaches its mapping first (sysv_ipc
        would leak it). ``address`` must be None: unixipc lets the kernel
        choose where the segment goes.
        """
        if address is not None:
            raise ValueError("attach(address=...) is not supported: the kernel chooses "
                             "the address (pass None)")
        if self.attached:
            self.detach()
        readonly = bool(flags & SHM_RDONLY)
        segment_id = self._segment.id
        attachment = _call(lambda: _core.shmat(segment_id, readonly))
        self._attachment = attachment
        self._view = memoryview(attachment)

    def detach(self) -> None:
        """Detach the segment (``shmdt``).

        Raises:
            NotAttachedError: it is not attached.
            BufferError: views of it (``memoryview(mem)``) still exist.
        """
        view, attachment = self._view, self._attachment
        if view is None or attachment is None or not attachment.attached:
            raise NotAttachedError("The segment is not attached")
        view.release()
        try:
            attachment.detach()  # BufferError while a memoryview(mem) lives
        except BufferError:
            self._view = memoryview(attachment)
            raise
        self._view = None
        self._attachment = None

    def _attached_view(self, doing: str) -> memoryview:
        view = self._view
        if view is None:
            raise NotAttachedError(f"{doing} attempt on unattached memory segment")
        return view

    def read(self, byte_count: int = 0, offset: int = 0) -> bytes:
        """Copy ``byte_count`` bytes (0: to the end; never past the end)
        from ``offset``.

        Raises:
            ValueError: ``offset`` is outside the segment or ``byte_count`` < 0.
            NotAttachedError: the segment is detached.
        """
        view = self._attached_view("Read")
        size = len(view)
        if not 0 <= offset < size:
            raise ValueError("The offset must be less than the segment size")
        if byte_count < 0:
            raise ValueError("The byte_count cannot be negative")
        end = size if byte_count == 0 else min(size, offset + byte_count)
        return view[offset:end].tobytes()

    def write(self, some_bytes: Any, offset: int = 0) -> None:
        """Copy ``some_bytes`` (bytes-like; a ``str`` as UTF-8) to ``offset``.

        Raises:
            ValueError: it would overrun the segment, or ``offset`` < 0.
            OSError(EACCES): the segment is attached read-only.
            NotAttachedError: the segment is detached.
        """
        view = self._attached_view("Write")
        if view.readonly:
            raise OSError(_errno.EACCES, "Write attempt on read-only memory segment")
        data = memoryview(_utf8(some_bytes)).cast("B")
        if offset < 0:
            raise ValueError("The offset must be >= 0")
        if offset + len(data) > len(view):
            raise ValueError("Attempt to write past end of memory segment")
        view[offset:offset + len(data)] = data

    def remove(self) -> None:
        """Mark the segment for removal (IPC_RMID): it goes at its last detach."""
        _call(self._segment.remove)

    def _buffer_source(self) -> memoryview:
        """What ``memoryview(mem)`` exports (see ``_core.BufferForwarder``)."""
        return self._attached_view("Buffer")

    def _stat(self) -> _SegmentStat:
        return _call(self._segment.stat)

    def _set_perm(self, **fields: int) -> None:
        _call(lambda: self._segment.set(**fields))

    @_readonly
    def key(self) -> int:
        return self._segment.key

    @_readonly_id
    def id(self) -> int:
        return self._segment.id

    @_readonly
    def size(self) -> int:
        return self._segment.size

    @_readonly
    def address(self) -> int:
        """Where the segment is attached in this process (0: detached)."""
        attachment = self._attachment
        return attachment.address if attachment is not None else 0

    @_readonly
    def attached(self) -> bool:
        attachment = self._attachment
        return attachment is not None and attachment.attached

    @_readonly
    def last_attach_time(self) -> int:
        return self._stat().attach_time

    @_readonly
    def last_detach_time(self) -> int:
        return self._stat().detach_time

    @_readonly
    def last_change_time(self) -> int:
        return self._stat().change_time

    @_readonly
    def creator_pid(self) -> int:
        return self._stat().creator_pid

    @_readonly
    def last_pid(self) -> int:
        return self._stat().last_pid

    @_readonly
    def number_attached(self) -> int:
        return self._stat().attach_count

    def __repr__(self) -> str:
        return f"{__name__}.SharedMemory({self._segment.key})"


def _open_segment(key: int, create: bool, exclusive: bool, size: int, mode: int,
                  flags: int) -> _NativeSharedMemory:
    """Open or create a segment the way sysv_ipc's constructor does."""
    extra = flags & (SHM_HUGETLB | SHM_NORESERVE) if isinstance(flags, int) else 0
    if extra and create:
        # Flags unixipc's constructor does not take: shmget itself, then a
        # handle on the new id (an existing one is opened as usual).
        try:
            shmid = _core.shmget(key, size, IPC_CREAT | IPC_EXCL | extra | mode)
        except FileExistsError:
            if exclusive:
                raise
        else:
            segment = _NativeSharedMemory.from_id(shmid)
            segment._created = True
            return segment
    if create and not exclusive and size == 0:
        # IPC_CREAT without a size opens an existing segment (a new one would
        # need a size: sysv_ipc's "The size is invalid").
        try:
            return _NativeSharedMemory(key, 0, mode=mode)
        except FileNotFoundError:
            raise ValueError("The size is invalid") from None
    return _NativeSharedMemory(key, size, create=create, exclusive=exclusive, mode=mode)


# ---- module functions --------------------------------------------------------------


def attach(id: int, address: int | None = None, flags: int = 0) -> SharedMemory:
    """A new, attached :class:`SharedMemory` handle on the existing segment ``id``."""
    segment = _call(lambda: _NativeSharedMemory.from_id(id))
    shm = SharedMemory._from_native(segment)
    shm.attach(address, flags)
    return shm


def ftok(path: str, id: int, silence_warning: bool = False) -> int:
    """The C library's ``ftok(path, id)``, with sysv_ipc's warning unless
    ``silence_warning`` (two files can give the same key).

    ``id`` must be in 1..255 (the C library keeps only its low 8 bits, so
    other values would silently collide): ValueError otherwise.
    """
    if not silence_warning:
        _warnings.warn("Use of ftok() is not recommended; see sysv_ipc documentation",
                       stacklevel=2)
    return _native_ftok(path, id)


def remove_message_queue(id: int) -> None:
    """Remove the queue with this id."""
    _call(lambda: _NativeQueue.from_id(id).remove())


def remove_semaphore(id: int) -> None:
    """Remove the semaphore (set) with this id."""
    _call(lambda: _NativeSemaphoreSet.from_id(id).remove())


def remove_shared_memory(id: int) -> None:
    """Remove the shared memory segment with this id (at its last detach)."""
    _call(lambda: _NativeSharedMemory.from_id(id).remove())
