"""The POSIX IPC family: named semaphores (``sem_open``), message queues
(``mq_open``) and shared memory (``shm_open``, ``memfd_create``).

``Semaphore("/name", create=True)`` opens or makes a named semaphore, seen
by every process of this IPC namespace that opens the same name (Linux keeps
it as ``/dev/shm/sem.NAME``). Waits release the GIL, are bounded with
``sem_clockwait(CLOCK_MONOTONIC)`` and retry after signals with the time
left. See docs/psem.md for the rules, and for what a crash leaves behind: a
POSIX semaphore has no undo.
"""

from __future__ import annotations

import errno
import io
import itertools
import mmap
import os
import resource
import stat as _stat
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Callable, NamedTuple, TypeVar, cast

from . import _core
from ._aio import run_cancellable
from ._closable import ClosableResource
from ._timeouts import Deadline
from ._wait import retry_when_ready
from ._sysv import check_int, check_mode
from .errors import naming

__all__ = ["Semaphore", "SemaphoreEntry", "semaphores", "SEM_VALUE_MAX", "SEM_SIZE", "SEM_ALIGN",
           "MessageQueue", "Message", "QueueAttributes", "MessageQueueEntry",
           "message_queues", "Limits", "limits", "MQ_PRIO_MAX",
           "SharedMemory", "SharedMemoryEntry", "shared_memory_segments"]

#: The largest value a POSIX semaphore can hold.
SEM_VALUE_MAX: int = _core.SEM_VALUE_MAX
#: Bytes an unnamed semaphore takes in a buffer (sizeof(sem_t)), and the
#: alignment its address needs (Semaphore.in_buffer).
SEM_SIZE: int = _core.SIZEOF_SEM_T
SEM_ALIGN: int = _core.ALIGNOF_SEM_T

#: Where Linux keeps named semaphores (one file per name, ``sem.`` + name).
_SHM_DIR = "/dev/shm"
_PREFIX = "sem."
#: A name is a file name in /dev/shm after the "sem." prefix (NAME_MAX 255).
_NAME_MAX = 255 - len(_PREFIX)
_WORKER = "unixipc-psem-wait"


def check_name(name: object, noun: str = "semaphore", name_max: int = _NAME_MAX) -> str:
    """A POSIX IPC name: one leading slash and no other, then 1..name_max
    bytes (ValueError saying which rule it breaks; TypeError for a
    non-str). ``noun`` names the kind of object in the messages."""
    if not isinstance(name, str):
        raise TypeError(f"a POSIX {noun} name must be a str, not {type(name).__name__}")
    if not name.startswith("/"):
        raise ValueError(f"a POSIX {noun} name must start with '/': {name!r}")
    rest = name[1:]
    if not rest:
        raise ValueError(f"a POSIX {noun} name needs at least one character after '/'")
    if "/" in rest:
        raise ValueError(f"a POSIX {noun} name may hold only its leading '/': {name!r}")
    if "\0" in rest:
        raise ValueError(f"a POSIX {noun} name may not hold a NUL character: {name!r}")
    if rest in (".", ".."):
        raise ValueError(f"a POSIX {noun} name may not be {name!r}")
    if len(os.fsencode(rest)) > name_max:
        raise ValueError(f"a POSIX {noun} name may hold at most {name_max} bytes "
                         f"after '/' (NAME_MAX)")
    return name


def _check_initial(value: object) -> int:
    value = check_int(value, "initial")
    if not 0 <= value <= SEM_VALUE_MAX:
        raise ValueError(f"initial must be in 0..{SEM_VALUE_MAX} (SEM_VALUE_MAX), not {value}")
    return value


@dataclass(frozen=True, slots=True)
class SemaphoreEntry:
    """One named semaphore that exists (an entry of :func:`semaphores`).

    Attributes:
        name: its name, with the leading slash.
        uid, gid: its owner.
        mode: its permission bits.
    """

    name: str
    uid: int
    gid: int
    mode: int


def _shm_files(semaphores: bool) -> list[tuple[str, os.stat_result]]:
    """The regular files of /dev/shm, as (name, stat): the ``sem.*`` ones of
    named semaphores (`semaphores`), or the others (shared memory)."""
    found = []
    try:
        entries = list(os.scandir(_SHM_DIR))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name.startswith(_PREFIX) != semaphores:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # unlinked while we looked
            continue
        if _stat.S_ISREG(st.st_mode):
            found.append((entry.name, st))
    return found


def _open_existing_semaphore(name: str) -> Any:
    """sem_open of an existing semaphore, once its file is known to be
    large enough: glibc maps the file as it is, and a shorter one (anyone
    may write a ``sem.*`` file in /dev/shm) would kill the process with
    SIGBUS at the first use, instead of raising here."""
    try:
        st = os.stat(os.path.join(_SHM_DIR, _PREFIX + name[1:]), follow_symlinks=False)
    except OSError:
        st = None  # sem_open says what is wrong
    if st is not None and _stat.S_ISREG(st.st_mode) and st.st_size < SEM_SIZE:
        raise OSError(errno.EINVAL, f"not a semaphore: its file holds {st.st_size} bytes, "
                                    f"a semaphore needs {SEM_SIZE}")
    return _core.psem_open(name, 0, 0, 0)


def semaphores() -> list[SemaphoreEntry]:
    """Every named POSIX semaphore of this IPC namespace (the ``sem.*``
    entries of /dev/shm), sorted by name."""
    found = [SemaphoreEntry(name="/" + name[len(_PREFIX):], uid=st.st_uid, gid=st.st_gid,
                            mode=_stat.S_IMODE(st.st_mode)) for name, st in _shm_files(True)]
    return sorted(found, key=lambda e: e.name)


_N = TypeVar("_N", bound="_NamedObject")


class _NamedObject(ClosableResource):
    """What the named POSIX objects share: the name, ``created``, closing
    the handle, unlinking the name and ``with`` (which closes, and unlinks
    only what this object created)."""

    _name: str
    _created: bool
    _closed: bool

    @property
    def name(self) -> str:
        """The object's name, with its leading slash."""
        return self._name

    @property
    def created(self) -> bool:
        """True when this object made it (its ``with`` unlinks it)."""
        return self._created

    @property
    def closed(self) -> bool:
        return self._closed

    def _before_close(self) -> None:
        """What a kind does before its handle closes."""

    def _close_handle(self) -> None:
        raise NotImplementedError  # each kind closes its own handle

    def _unlink_name(self) -> None:
        raise NotImplementedError  # each kind: sem_unlink, mq_unlink

    def close(self) -> None:
        """Close this process's handle (sem_close, mq_close); the object
        and its name stay. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._before_close()
        self._close_handle()

    def unlink(self) -> None:
        """Remove the name (sem_unlink, mq_unlink): no process can open it
        again; those holding it keep it until they close it.
        FileNotFoundError when it is already gone."""
        with naming(self._name):
            self._unlink_name()

    def __enter__(self: _N) -> _N:
        self._check_open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._created:
                try:
                    self.unlink()
                except FileNotFoundError:
                    pass
        finally:
            self.close()


class Semaphore(_NamedObject):
    """A named POSIX semaphore.

    Args:
        name: ``"/lock"``: one leading slash and no other (ValueError before
            any call otherwise).
        create: make it if it does not exist (O_CREAT).
        exclusive: fail with FileExistsError if it exists (O_CREAT|O_EXCL;
            implies ``create``). Of racing exclusive creators exactly one
            wins, and the kernel shows the others no half-made semaphore.
        mode: permission bits of a new semaphore (``0o600`` unless asked;
            the umask applies); ignored when it exists.
        initial: the value of a NEW semaphore, 0..SEM_VALUE_MAX; an existing
            one keeps its value.

    ``created`` is True when this call made it. ``unlink()`` removes the
    name (processes holding it open keep using it). The context manager
    ``with Semaphore(...) as sem:`` closes the handle on exit and unlinks
    the name only if this object created it: the lifecycle rule of the whole
    library (a System V set's ``with`` removes only what it created). For a
    critical section use ``with sem.held():`` (acquire, then release).

    Pickling passes a reference by name, never ``created``: a child's copy
    opens the same semaphore and its ``with`` block or ``close`` never
    unlinks the parent's.

    An unnamed, process-shared semaphore lives inside shared memory instead:
    :meth:`in_buffer` initialises one (sem_init), :meth:`at` uses one that
    another process initialised. Its ``name`` is None.

    Raises:
        FileNotFoundError, FileExistsError, PermissionError: as sem_open,
            naming the semaphore.
        TypeError, ValueError: bad arguments, before any system call.
    """

    _where: str = ""  # unnamed: what holds it, for repr ("mmap at offset 8")

    def _close_handle(self) -> None:
        self._handle.close()

    def _unlink_name(self) -> None:
        _core.psem_unlink(self._name)

    @classmethod
    def in_buffer(cls, buffer: Any, offset: int = 0, *, initial: int = 0) -> Semaphore:
        """Initialise an unnamed process-shared semaphore (sem_init with
        pshared=1) in the ``sizeof(sem_t)`` bytes (:data:`SEM_SIZE`) of
        ``buffer`` at ``offset``, with value ``initial``.

        ``buffer`` is any writable buffer of shared memory: an anonymous
        shared ``mmap`` (seen by children forked after it), a System V
        segment's view (``unixipc.shm``), a ``posix.SharedMemory`` view. Run
        it once, in one process, before the others use it; they call
        :meth:`at` (or inherit this object through fork). Initialising again
        a semaphore that processes wait on is undefined behaviour.

        The object holds the buffer exported until it is closed, so the
        memory cannot be unmapped, detached or resized under the semaphore.
        ``close()`` lets go of the buffer; it never calls sem_destroy (other
        processes may still use the semaphore; on Linux sem_destroy frees
        nothing). There is no name: ``unlink()`` raises
        io.UnsupportedOperation, ``with`` only closes, pickling raises
        TypeError (share the memory and call :meth:`at` instead).

        Raises:
            TypeError: ``buffer`` is not a buffer, or an argument is not an int.
            ValueError: a read-only or non-contiguous buffer, an offset
                outside it, not aligned for a sem_t (:data:`SEM_ALIGN`) or
                without room for one, ``initial`` outside 0..SEM_VALUE_MAX;
                all before any call.
        """
        offset = check_int(offset, "offset")
        initial = _check_initial(initial)
        return cls._unnamed(_core.psem_init(buffer, offset, initial), buffer, offset, True)

    @classmethod
    def at(cls, buffer: Any, offset: int = 0) -> Semaphore:
        """The unnamed semaphore that :meth:`in_buffer` (here, or in another
        process, or a C program's ``sem_init(sem, 1, n)``) initialised at
        ``offset`` of ``buffer``: no sem_init, the value is what it is. The
        checks, the buffer export and the lifecycle are those of
        :meth:`in_buffer`. Memory that no one initialised is not detected
        (zeroed memory reads as a semaphore of value 0 on Linux)."""
        offset = check_int(offset, "offset")
        return cls._unnamed(_core.psem_at(buffer, offset), buffer, offset, False)

    @classmethod
    def _unnamed(cls, handle: _core.PosixSemaphore, buffer: Any, offset: int,
                 created: bool) -> Semaphore:
        self = cls.__new__(cls)
        self._handle = handle
        self._name = ""
        self._created = created
        self._where = f"{type(buffer).__name__} at offset {offset}"
        self._closed = False
        self._bind_hot_calls()
        self._opened()
        return self

    @property
    def name(self) -> str | None:  # type: ignore[override]
        """The semaphore's name, with its leading slash; None for an
        unnamed one (:meth:`in_buffer`, :meth:`at`)."""
        return self._name or None

    @property
    def created(self) -> bool:
        """True when this object made it: a named one's ``with`` unlinks
        it; for an unnamed one, this object ran sem_init (:meth:`in_buffer`)."""
        return self._created

    def unlink(self) -> None:
        """Remove the name (sem_unlink): no process can open it again; those
        holding it keep it until they close it. FileNotFoundError when it is
        already gone; io.UnsupportedOperation for an unnamed semaphore
        (nothing to remove: it lives as long as its memory)."""
        if not self._name:
            raise io.UnsupportedOperation(
                f"an unnamed semaphore ({self._where}) has no name to unlink: it lives as "
                f"long as its memory; close() lets go of the buffer")
        super().unlink()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._name:
            self.close()  # unnamed: nothing to unlink, no sem_destroy
            return
        super().__exit__(exc_type, exc, tb)

    def __init__(self, name: str, *, create: bool = False, exclusive: bool = False,
                 mode: int = 0o600, initial: int = 0) -> None:
        name = check_name(name)
        mode = check_mode(mode)
        initial = _check_initial(initial)
        self._name = name
        self._created = False
        self._closed = True
        with naming(name):
            if exclusive:
                self._handle = _core.psem_open(name, os.O_CREAT | os.O_EXCL, mode, initial)
                self._created = True
            elif create:
                # O_CREAT alone does not say whether it made the semaphore:
                # try O_EXCL first, and open what exists if another won.
                try:
                    self._handle = _core.psem_open(name, os.O_CREAT | os.O_EXCL, mode, initial)
                    self._created = True
                except FileExistsError:
                    self._handle = _open_existing_semaphore(name)
            else:
                self._handle = _open_existing_semaphore(name)
        self._closed = False
        self._bind_hot_calls()
        self._opened()

    def _bind_hot_calls(self) -> None:
        """While it is open, ``acquire`` and ``release`` are the C handle's
        own methods (the same arguments; the handle checks that it is open):
        no Python frame per call, the figures of docs/psem.md. close()
        removes them and the class's methods answer after it (ValueError
        naming this object)."""
        self.__dict__.update(acquire=self._handle.acquire, release=self._handle.release)

    def _before_close(self) -> None:
        for hot in ("acquire", "release"):
            self.__dict__.pop(hot, None)

    def _release(self) -> None:
        # Collected unclosed (after the ResourceWarning): the handle closes
        # itself when its last reference goes, which may be a hot method
        # still running, as in ``Semaphore("/s").release()``. Dropped from
        # the object too: a warning's ``source`` may keep the object alive.
        self._closed = True
        for held in ("acquire", "release", "_handle"):
            self.__dict__.pop(held, None)

    @property
    def value(self) -> int:
        """The current value (sem_getvalue; 0 while processes wait)."""
        self._check_open()
        return self._handle.getvalue()

    def acquire(self, *, block: bool = True, timeout: float | None = None) -> None:
        """Take one unit, waiting while the value is 0.

        Raises:
            BlockingIOError: ``block=False`` and the value is 0 (sem_trywait).
            TimeoutError: the value stayed 0 for ``timeout`` seconds
                (sem_clockwait on CLOCK_MONOTONIC; nothing polls).
        """
        # The hot path: one flag test and the C call without arguments,
        # which skips the argument parsing (and takes a free unit with the
        # GIL held); see docs/psem.md for the figures.
        if self._closed:
            raise self._closed_error()
        if block is True and timeout is None:
            self._handle.acquire()
        else:
            self._handle.acquire(block=block, timeout=timeout)

    def release(self) -> None:
        """Add one unit (sem_post; never blocks). OSError with errno
        EOVERFLOW past SEM_VALUE_MAX."""
        if self._closed:
            raise self._closed_error()
        self._handle.release()

    async def acquire_async(self, *, block: bool = True, timeout: float | None = None) -> None:
        """``acquire`` for asyncio: waits without blocking the event loop.

        An attempt is made at once; if it would wait, the wait runs in a
        worker thread blocked in ``sem_clockwait`` (no polling). Cancelling
        the awaiting task interrupts that wait without losing a unit: if it
        was already taken when the cancellation arrived the call returns
        (the cancellation is absorbed), otherwise nothing was taken and
        CancelledError is raised.
        """
        self._check_open()
        try:
            return self._handle.acquire(block=False)
        except BlockingIOError:
            if not block:
                raise
        if timeout == 0:
            return self._handle.acquire(timeout=0)
        handle = self._handle
        await run_cancellable(lambda token: handle.acquire(timeout=timeout, _cancel=token),
                              _WORKER)

    def held(self) -> _Held:
        """A context manager holding the semaphore: acquire on entry,
        release on exit."""
        self._check_open()
        return _Held(self)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickle as a reference by name (the copy opens the semaphore,
        never as its creator). An unnamed one raises TypeError: a buffer
        cannot be pickled by reference; share the memory (fork, a
        SharedMemory, a System V segment) and call :meth:`at` there."""
        self._check_open()
        if not self._name:
            raise TypeError(f"cannot pickle an unnamed posix.Semaphore ({self._where}): "
                            f"share its memory and call Semaphore.at(buffer, offset) there")
        return (_open_existing, (self._name,))

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        if not self._name:
            return f"<posix.Semaphore unnamed in {self._where}{state}>"
        return f"<posix.Semaphore {self._name!r}{state}>"


def _open_existing(name: str) -> Semaphore:
    return Semaphore(name)


class _Held:
    __slots__ = ("_sem",)

    def __init__(self, sem: Semaphore) -> None:
        self._sem = sem

    def __enter__(self) -> Semaphore:
        self._sem.acquire()
        return self._sem

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._sem.release()


# ---- message queues (mq_open) ------------------------------------------------

#: Priorities run 0..MQ_PRIO_MAX-1; higher ones are received first.
MQ_PRIO_MAX: int = _core.MQ_PRIO_MAX

#: Where Linux shows the limits of POSIX message queues.
_MQ_PROC = "/proc/sys/fs/mqueue"
#: A queue's name is a file name in the mqueue filesystem (NAME_MAX 255).
_MQ_NAME_MAX = 255


class Message(NamedTuple):
    """One message received from a :class:`MessageQueue`."""

    data: bytes
    priority: int


_core._pmq_set_message_type(Message)
_ZERO = 0  # send()'s default priority, for its hot-path test (`is`, not ==)


class QueueAttributes(NamedTuple):
    """What :meth:`MessageQueue.attributes` reports (mq_getattr)."""

    max_messages: int
    max_message_size: int
    current_messages: int


def _proc_limit(name: str, default: int) -> int:
    try:
        with open(os.path.join(_MQ_PROC, name)) as f:
            return int(f.read())
    except (OSError, ValueError):
        return default


#: The largest max_messages / max_message_size asked of mq_open (the kernel
#: caps both far lower: msg_max, msgsize_max).
_SIZE_MAX = 2**31 - 1


class Limits(NamedTuple):
    """What :func:`limits` reports: the mqueue limits of this IPC namespace
    (/proc/sys/fs/mqueue) and this process's RLIMIT_MSGQUEUE."""

    msg_max: int  #: largest max_messages of a new queue
    msgsize_max: int  #: largest max_message_size of a new queue
    queues_max: int  #: queues this namespace may hold
    msg_default: int  #: max_messages when none is given
    msgsize_default: int  #: max_message_size when none is given
    rlimit_msgqueue: int  #: bytes of queues this user may have (soft limit; -1: none)


def limits() -> Limits:
    """The limits a new POSIX message queue meets (a process without
    CAP_SYS_RESOURCE is held to msg_max and msgsize_max)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
    return Limits(msg_max=_proc_limit("msg_max", 10),
                  msgsize_max=_proc_limit("msgsize_max", 8192),
                  queues_max=_proc_limit("queues_max", 256),
                  msg_default=_proc_limit("msg_default", 10),
                  msgsize_default=_proc_limit("msgsize_default", 8192),
                  rlimit_msgqueue=soft)


def _check_size(value: object, what: str) -> int:
    value = check_int(value, what)
    if not 1 <= value <= _SIZE_MAX:
        raise ValueError(f"{what} must be in 1..{_SIZE_MAX}, not {value}")
    return value


def _explain_open_error(exc: OSError, name: str, max_messages: int,
                        max_message_size: int) -> BaseException:
    """The error of a failed mq_open, saying which limit it hit."""
    if exc.errno == errno.EINVAL and max_messages:
        msg_max = _proc_limit("msg_max", 10)
        msgsize_max = _proc_limit("msgsize_max", 8192)
        if max_messages > msg_max:
            return ValueError(f"max_messages={max_messages} is above the limit "
                              f"{_MQ_PROC}/msg_max ({msg_max}) for {name!r}")
        if max_message_size > msgsize_max:
            return ValueError(f"max_message_size={max_message_size} is above the limit "
                              f"{_MQ_PROC}/msgsize_max ({msgsize_max}) for {name!r}")
        return exc
    hint = None
    if exc.errno == errno.ENOSPC:
        hint = f"the namespace already holds {_MQ_PROC}/queues_max " \
               f"({_proc_limit('queues_max', 256)}) queues"
    elif exc.errno == errno.EMFILE:
        # Two limits share EMFILE: the descriptors of this process, and the
        # bytes of queues of this user. Open descriptors tell them apart.
        nofile, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            open_fds = len(os.listdir("/proc/self/fd")) - 1  # minus listdir's own
        except OSError as listing:  # EMFILE: no descriptor left to list them
            open_fds = nofile if listing.errno == errno.EMFILE else -1
        if nofile != resource.RLIM_INFINITY and open_fds >= nofile:
            hint = f"this process has RLIMIT_NOFILE ({nofile}) descriptors open"
        else:
            soft, _ = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
            hint = (f"the queues of this user would pass RLIMIT_MSGQUEUE ({soft} bytes, "
                    f"counting max_messages x max_message_size and bookkeeping)")
    if hint is None:
        return exc
    return type(exc)(exc.errno, f"{exc.strerror} ({hint})", name)


@dataclass(frozen=True, slots=True)
class MessageQueueEntry:
    """One POSIX message queue that exists (an entry of :func:`message_queues`).

    Attributes:
        name: its name, with the leading slash.
        uid, gid: its owner.
        mode: its permission bits.
        size: bytes its messages take (the mqueue file's QSIZE).
        current_messages: how many messages it holds (mq_getattr), or None
            when this process may not open it for reading.
    """

    name: str
    uid: int
    gid: int
    mode: int
    size: int
    current_messages: int | None


def _mqueue_mount() -> str:
    """Where this IPC namespace's mqueue filesystem is mounted."""
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[2] == "mqueue":
                    return fields[1].replace("\\040", " ")
    except OSError:
        pass
    raise FileNotFoundError(errno.ENOENT, "no mqueue filesystem is mounted, so POSIX "
                            "message queues cannot be listed (mount -t mqueue none "
                            "/dev/mqueue)", "/dev/mqueue")


def message_queues() -> list[MessageQueueEntry]:
    """Every POSIX message queue of this IPC namespace, sorted by name.

    Linux lists them only through the mqueue filesystem: FileNotFoundError
    when none is mounted. Each one's message count comes from opening it
    read-only (None where permission is lacking)."""
    root = _mqueue_mount()
    found = []
    for entry in os.scandir(root):
        try:
            st = entry.stat(follow_symlinks=False)
            with open(entry.path) as f:
                info = dict(field.split(":", 1) for field in f.read().split())
        except FileNotFoundError:  # unlinked while we looked
            continue
        if not _stat.S_ISREG(st.st_mode):
            continue
        name = "/" + entry.name
        try:
            handle = _core.pmq_open(name, os.O_RDONLY, 0, 0, 0)
        except OSError:
            count = None
        else:
            count = handle.getattr()[2]
            handle.close()
        found.append(MessageQueueEntry(name=name, uid=st.st_uid, gid=st.st_gid,
                                       mode=_stat.S_IMODE(st.st_mode),
                                       size=int(info.get("QSIZE", 0)),
                                       current_messages=count))
    return sorted(found, key=lambda e: e.name)


# notify(callback): the callbacks registered in this process, by the token
# that the SIGEV_THREAD notification carries back (_core calls
# _notify_fired(token) in glibc's notification thread).
_notify_lock = threading.Lock()
_notify_tokens = itertools.count(1)
_notify_callbacks: dict[int, Callable[[], object]] = {}


def _notify_fired(token: int) -> None:
    with _notify_lock:
        callback = _notify_callbacks.pop(token, None)
    if callback is not None:
        callback()


class MessageQueue(_NamedObject):
    """A POSIX message queue.

    Args:
        name: ``"/jobs"``: one leading slash and no other (ValueError before
            any call otherwise).
        create: make it if it does not exist (O_CREAT).
        exclusive: fail with FileExistsError if it exists (O_CREAT|O_EXCL;
            implies ``create``).
        mode: permission bits of a new queue (``0o600`` unless asked; the
            umask applies); ignored when it exists.
        max_messages, max_message_size: the capacity of a NEW queue (the
            other one defaults to /proc/sys/fs/mqueue/msg_default or
            msgsize_default); above msg_max / msgsize_max is ValueError
            naming the limit. An existing queue keeps its own.
        read, write: the access this handle asks for (O_RDONLY, O_WRONLY,
            O_RDWR); at least one.

    Messages are received highest priority first, FIFO within a priority.
    ``created`` is True when this call made the queue; ``with`` closes the
    handle on exit and unlinks the name only if this object created it.
    Pickling passes a reference by name (with the same access), never
    ``created``.

    Raises:
        FileNotFoundError, FileExistsError, PermissionError: as mq_open,
            naming the queue; also PermissionError (errno EBADF) for
            ``send`` on a ``write=False`` handle, ``receive`` on a
            ``read=False`` one.
        TypeError, ValueError: bad arguments, before any system call.
    """

    _notify_token: int | None = None  # this object's notify(callback), if any

    def _close_handle(self) -> None:
        self._handle.close()

    def _unlink_name(self) -> None:
        _core.pmq_unlink(self._name)

    def __init__(self, name: str, *, create: bool = False, exclusive: bool = False,
                 mode: int = 0o600, max_messages: int | None = None,
                 max_message_size: int | None = None, read: bool = True,
                 write: bool = True) -> None:
        name = check_name(name, "message queue", _MQ_NAME_MAX)
        mode = check_mode(mode)
        maxmsg = 0 if max_messages is None else _check_size(max_messages, "max_messages")
        msgsize = (0 if max_message_size is None
                   else _check_size(max_message_size, "max_message_size"))
        if maxmsg or msgsize:
            maxmsg = maxmsg or _proc_limit("msg_default", 10)
            msgsize = msgsize or _proc_limit("msgsize_default", 8192)
        read, write = bool(read), bool(write)
        if not (read or write):
            raise ValueError("a message queue handle needs read=True or write=True")
        access = os.O_RDWR if read and write else os.O_RDONLY if read else os.O_WRONLY
        self._name = name
        self._read = read
        self._write = write
        self._created = False
        self._closed = True
        try:
            with naming(name):
                if exclusive:
                    self._handle = _core.pmq_open(name, access | os.O_CREAT | os.O_EXCL,
                                                  mode, maxmsg, msgsize)
                    self._created = True
                elif create:
                    # O_CREAT alone does not say whether it made the queue.
                    try:
                        self._handle = _core.pmq_open(name, access | os.O_CREAT | os.O_EXCL,
                                                      mode, maxmsg, msgsize)
                        self._created = True
                    except FileExistsError:
                        self._handle = _core.pmq_open(name, access, 0, 0, 0)
                else:
                    self._handle = _core.pmq_open(name, access, 0, 0, 0)
        except OSError as exc:
            err = _explain_open_error(exc, name, maxmsg, msgsize)
            if err is exc:
                raise
            raise err from None
        self._closed = False
        # While it is open, send and receive are the C handle's own methods
        # (the same arguments; the handle checks that it is open and its
        # access, and names the queue in its errors): no Python frame per
        # call, the figures of docs/pmq.md. close() removes them and the
        # class's methods answer after it.
        self.__dict__.update(send=self._handle.send, receive=self._handle.receive)
        self._opened()

    def _release(self) -> None:
        # Collected unclosed: the handle closes itself when its last
        # reference goes (maybe a hot method still running, as in
        # ``MessageQueue("/q").send(b"x")``). Dropped from the object too:
        # a warning's ``source`` may keep the object alive.
        self._closed = True
        self._forget_notify()
        for held in ("send", "receive", "_handle"):
            self.__dict__.pop(held, None)

    def send(self, data: Any, priority: int = 0, *, block: bool = True,
             timeout: float | None = None) -> None:
        """Put one message (any bytes-like object) on the queue.

        Raises:
            ValueError: ``data`` is longer than ``max_message_size``, or
                ``priority`` is outside 0..MQ_PRIO_MAX-1 (before any call).
            BlockingIOError: ``block=False`` and the queue is full.
            TimeoutError: the queue stayed full for ``timeout`` seconds
                (counted on CLOCK_MONOTONIC; nothing polls).
        """
        # The hot path: one flag test and the C call with the data alone
        # (no argument parsing). The handle checks its access and names the
        # queue in its errors itself; see docs/pmq.md for the figures.
        if self._closed:
            raise self._closed_error()
        if priority is _ZERO and block is True and timeout is None:
            self._handle.send(data)
        else:
            self._handle.send(data, priority, block=block, timeout=timeout)

    def receive(self, *, block: bool = True, timeout: float | None = None) -> Message:
        """Take the oldest message of the highest priority.

        Raises:
            BlockingIOError: ``block=False`` and the queue is empty.
            TimeoutError: the queue stayed empty for ``timeout`` seconds.
        """
        if self._closed:
            raise self._closed_error()
        if block is True and timeout is None:
            return cast(Message, self._handle.receive())  # a Message, built in C
        return cast(Message, self._handle.receive(block=block, timeout=timeout))

    def _no_access(self, call: str, what: str) -> PermissionError:
        return PermissionError(errno.EBADF, f"{call}: this handle was opened with "
                               f"{what}=False", self._name)

    def attributes(self) -> QueueAttributes:
        """The queue's capacity and how many messages it holds now."""
        self._check_open()
        return QueueAttributes._make(self._handle.getattr())

    def notify(self, callback: Callable[[], object] | None = None, /, *,
               signal: int | None = None) -> None:
        """mq_notify: be told when a message arrives on the empty queue
        while no process waits in ``receive``.

        ``notify(callback)`` calls ``callback()`` (no arguments) in a thread
        of its own (SIGEV_THREAD); an exception it raises goes to
        ``sys.unraisablehook``. ``notify(signal=signal.SIGUSR1)`` sends
        that signal instead; ``notify(None)`` removes the registration.
        One process at a time may register (another gets OSError EBUSY),
        and the registration is removed once it has fired, and by
        :meth:`close`: register again to be told again."""
        self._check_open()
        if callback is not None:
            if signal is not None:
                raise TypeError("notify() takes a callback or signal=, not both")
            if not callable(callback):
                raise TypeError(f"callback must be callable, not {type(callback).__name__}")
            with _notify_lock:
                token = next(_notify_tokens)
                _notify_callbacks[token] = callback
            try:
                with naming(self._name):
                    self._handle.notify_thread(token)
            except BaseException:
                with _notify_lock:
                    _notify_callbacks.pop(token, None)
                raise
            self._forget_notify()
            self._notify_token = token
            return
        with naming(self._name):
            self._handle.notify(None if signal is None else int(signal))
        self._forget_notify()

    def _forget_notify(self) -> None:
        """Drops the callback this object registered (replaced, removed,
        closed); a notification that fires later finds nothing to call."""
        token = self._notify_token
        if token is not None:
            self._notify_token = None
            with _notify_lock:
                _notify_callbacks.pop(token, None)

    def fileno(self) -> int:
        """The queue's descriptor: poll/select/epoll see it readable when a
        message waits and writable when there is room (Linux)."""
        self._check_open()
        return self._handle.fileno()

    async def send_async(self, data: Any, priority: int = 0, *, block: bool = True,
                         timeout: float | None = None) -> None:
        """``send`` for asyncio: the event loop waits on the descriptor (no
        thread). A cancelled call has sent nothing."""
        self._check_open()
        if not self._write:
            raise self._no_access("mq_send", "write")
        handle = self._handle
        await self._when_ready(lambda: handle.send(data, priority, block=False), block,
                               timeout, "mq_send", writable=True)

    async def receive_async(self, *, block: bool = True,
                            timeout: float | None = None) -> Message:
        """``receive`` for asyncio: the event loop waits on the descriptor
        (no thread). A cancelled call has taken nothing, and any number of
        tasks may wait on one queue at once."""
        self._check_open()
        if not self._read:
            raise self._no_access("mq_receive", "read")
        handle = self._handle
        return Message._make(await self._when_ready(
            lambda: handle.receive(block=False), block, timeout, "mq_receive"))

    async def _when_ready(self, attempt: Any, block: bool, timeout: float | None,
                          what: str, *, writable: bool = False) -> Any:
        deadline = Deadline(timeout)
        with naming(self._name):
            try:
                return attempt()
            except BlockingIOError:
                if not block:
                    raise
            # The loop keeps one callback per descriptor: each waiting task
            # watches a duplicate of its own.
            fd = os.dup(self.fileno())
            try:
                def fileno() -> int:
                    self._check_open()
                    return fd
                return await retry_when_ready(attempt, fileno, deadline, what,
                                              writable=writable)
            finally:
                os.close(fd)

    def _before_close(self) -> None:
        for hot in ("send", "receive"):
            self.__dict__.pop(hot, None)
        self._forget_notify()  # mq_close removes the registration

    def __reduce__(self) -> tuple[Any, tuple[str, bool, bool]]:
        """Pickle as a reference by name (the copy opens the queue with the
        same access, never as its creator)."""
        self._check_open()
        return (_open_existing_queue, (self._name, self._read, self._write))

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<posix.MessageQueue {self._name!r}{state}>"


def _open_existing_queue(name: str, read: bool, write: bool) -> MessageQueue:
    return MessageQueue(name, read=read, write=write)


# ---- shared memory (shm_open, memfd_create) -----------------------------------

#: A segment's name is a file name in /dev/shm (NAME_MAX 255).
_SHM_NAME_MAX = 255
#: memfd_create takes names of up to 249 bytes (it prefixes "memfd:").
_MEMFD_NAME_MAX = 249
#: The largest size asked of ftruncate (off_t).
_SHM_SIZE_MAX = 2**63 - 1
#: create=True retries when the segment it found is unlinked before it
#: could open it; this bounds a pathological race.
_CREATE_TRIES = 100


@dataclass(frozen=True, slots=True)
class SharedMemoryEntry:
    """One named POSIX shared memory segment that exists (an entry of
    :func:`shared_memory_segments`).

    Attributes:
        name: its name, with the leading slash.
        uid, gid: its owner.
        mode: its permission bits.
        size: its size in bytes.
    """

    name: str
    uid: int
    gid: int
    mode: int
    size: int


def shared_memory_segments() -> list[SharedMemoryEntry]:
    """Every named POSIX shared memory segment (the regular files of
    /dev/shm, without the ``sem.*`` entries of named semaphores), sorted by
    name. Anonymous (memfd) segments have no name and are not listed."""
    found = [SharedMemoryEntry(name="/" + name, uid=st.st_uid, gid=st.st_gid,
                               mode=_stat.S_IMODE(st.st_mode), size=st.st_size)
             for name, st in _shm_files(False)]
    return sorted(found, key=lambda e: e.name)


def _check_shm_size(value: object, what: str = "size") -> int:
    value = check_int(value, what)
    if not 0 <= value <= _SHM_SIZE_MAX:
        raise ValueError(f"{what} must be in 0..2**63-1, not {value}")
    return value


def _check_memfd_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"an anonymous segment's name must be a str, not {type(name).__name__}")
    if "\0" in name:
        raise ValueError(f"an anonymous segment's name may not hold a NUL character: {name!r}")
    if len(os.fsencode(name)) > _MEMFD_NAME_MAX:
        raise ValueError(f"an anonymous segment's name may hold at most {_MEMFD_NAME_MAX} "
                         f"bytes (memfd_create)")
    return name


def _allocate(fd: int, size: int, where: str) -> None:
    """posix_fallocate the whole segment, so that a full /dev/shm (or
    memory cgroup) is an error now and not a SIGBUS at the first touch of a
    page that cannot be had."""
    if size == 0:
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EFBIG):
            raise
        try:
            free = os.statvfs(where).f_bavail * os.statvfs(where).f_frsize
            room = f"{free} bytes free in {where}"
        except OSError:
            room = "the memory it lives in is full"
        raise OSError(exc.errno, f"posix_fallocate: no space for a {size}-byte shared "
                                 f"memory segment ({room})") from None


def _symlink_error(name: str) -> OSError:
    return OSError(errno.ELOOP, f"shm_open: {_SHM_DIR}{name} is a symbolic link, "
                                "which is never followed", name)


def _open_segment_fd(name: str, size: int) -> int:
    """shm_open of an existing segment (O_RDWR, O_NOFOLLOW): its descriptor.
    A ``size`` larger than the segment is EINVAL, naming both sizes."""
    try:
        fd = _core.pshm_open(name, os.O_RDWR, 0)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symlink_error(name) from None
        raise
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"shm_open: {_SHM_DIR}{name} is not a regular file",
                          name)
        if st.st_size < size:
            raise OSError(errno.EINVAL, f"shm_open: the existing segment has {st.st_size} "
                                        f"bytes, fewer than size={size}", name)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _create_segment_fd(name: str, size: int, mode: int) -> int:
    """A NEW segment of ``size`` bytes under ``name`` (FileExistsError if
    the name exists). Made as an unnamed file of /dev/shm (O_TMPFILE),
    sized and allocated, then given its name by linkat, which fails if the
    name exists: no process ever sees it half made, and a failure (/dev/shm
    full, a crash) leaves nothing behind. Where O_TMPFILE or /proc is
    missing: shm_open(O_CREAT|O_EXCL), then size (openers may see it
    smaller for that moment), unlinked again if sizing fails."""
    if os.path.lexists(_SHM_DIR + name):
        # Not relied on (the link below decides); it only spares allocating
        # a segment that cannot be linked.
        raise FileExistsError(errno.EEXIST, "shm_open: File exists", name)
    try:
        fd = os.open(_SHM_DIR, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
            raise
        fd = -1
    if fd >= 0 and not os.path.isdir("/proc/self/fd"):
        os.close(fd)
        fd = -1
    if fd >= 0:
        try:
            os.ftruncate(fd, size)
            _allocate(fd, size, _SHM_DIR)
            # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N names the file
            # itself (os.link takes that path when given a dir_fd).
            shm_dir = os.open(_SHM_DIR, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.link(f"/proc/self/fd/{fd}", name[1:], dst_dir_fd=shm_dir,
                        follow_symlinks=True)
            except OSError as exc:  # named after the segment, not the /proc path
                raise type(exc)(exc.errno, exc.strerror, name) from None
            finally:
                os.close(shm_dir)
        except BaseException:
            os.close(fd)
            raise
        return fd
    fd = _core.pshm_open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.ftruncate(fd, size)
        _allocate(fd, size, _SHM_DIR)
    except BaseException:
        os.close(fd)
        try:
            _core.pshm_unlink(name)
        except FileNotFoundError:
            pass
        raise
    return fd


def _open_named_segment(name: str, size: int, mode: int, create: bool,
                        exclusive: bool) -> tuple[int, bool]:
    """(descriptor, created) of the segment ``name``."""
    if exclusive:
        return _create_segment_fd(name, size, mode), True
    if not create:
        return _open_segment_fd(name, size), False
    # Open first: making a segment allocates all of it, which an opener of
    # an existing one must not pay for (nor fail with ENOSPC on). Only the
    # link decides who created it, so ``created`` stays exact.
    for _ in range(_CREATE_TRIES):
        try:
            return _open_segment_fd(name, size), False
        except FileNotFoundError:
            pass
        try:
            return _create_segment_fd(name, size, mode), True
        except FileExistsError:
            continue  # another creator won: open theirs
        except OSError as exc:
            # No room, or no right to create in /dev/shm: if another
            # creator won meanwhile, theirs is what we wanted.
            if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EACCES, errno.EPERM,
                                 errno.EROFS):
                raise
            try:
                return _open_segment_fd(name, size), False
            except FileNotFoundError:
                raise exc from None
    raise FileExistsError(errno.EEXIST, "shm_open: the segment kept appearing and "
                                        "vanishing", name)


class SharedMemory(_NamedObject):
    """A POSIX shared memory segment: named (shm_open) or anonymous
    (:meth:`anonymous`, memfd_create).

    Args:
        name: ``"/frame"``: one leading slash and no other (ValueError
            before any call otherwise).
        size: bytes of a NEW segment (0 is allowed: :meth:`resize` it
            later). An existing segment keeps its size, and must be at
            least ``size`` bytes (OSError EINVAL naming both otherwise).
        create: make it if it does not exist (an existing one is opened
            first, so it costs no allocation).
        exclusive: fail with FileExistsError if it exists (implies
            ``create``). Of racing creators exactly one makes it.
        mode: permission bits of a new segment (``0o600`` unless asked; the
            umask applies); ignored when it exists.

    A new segment appears under its name already at its full size, its
    pages allocated (posix_fallocate): an opener never sees it half made,
    and a full /dev/shm is an OSError (ENOSPC) here rather than a SIGBUS at
    the first touch. Opening never follows a symbolic link planted in
    /dev/shm (OSError ELOOP); a constructor that fails leaves no name.

    :meth:`attach` maps the segment and returns a memoryview over it (zero
    copy); the mapping stays until :meth:`detach`, which is refused
    (BufferError) while views of it exist. :meth:`read` and :meth:`write`
    copy with pread/pwrite and need no mapping. ``created`` is True when
    this call made the segment; ``with`` closes on exit (detaching the
    mappings without views) and unlinks the name only if this object
    created it. Pickling passes a reference: the name, or for an anonymous
    segment the descriptor (multiprocessing's descriptor passing, so fork,
    spawn and forkserver children all get it); the copy is never the
    creator.

    Raises:
        FileNotFoundError, FileExistsError, PermissionError: as shm_open,
            naming the segment.
        OSError: ENOSPC when there is no room for it; ELOOP for a symlink.
        TypeError, ValueError: bad arguments, before any system call.
    """

    _fd: int = -1
    _anonymous: bool = False

    def __init__(self, name: str, size: int = 0, *, create: bool = False,
                 exclusive: bool = False, mode: int = 0o600) -> None:
        name = check_name(name, "shared memory", _SHM_NAME_MAX)
        size = _check_shm_size(size)
        mode = check_mode(mode)
        self._name = name
        self._created = False
        self._closed = True
        with naming(name):
            fd, created = _open_named_segment(name, size, mode, bool(create), bool(exclusive))
        self._bind(fd, created, anonymous=False)

    def _bind(self, fd: int, created: bool, *, anonymous: bool) -> None:
        self._fd = fd
        self._created = created
        self._anonymous = anonymous
        #: Every mapping attach() made that may still be mapped.
        self._maps: list[mmap.mmap] = []
        self._closed = False
        self._opened()

    @classmethod
    def anonymous(cls, size: int, name: str = "unixipc") -> SharedMemory:
        """A new segment with no name in /dev/shm (memfd_create), of
        ``size`` bytes, allocated at once (ENOSPC now, not SIGBUS later).

        It is shared with fork children, with processes it is pickled to
        (its descriptor travels) and through SCM_RIGHTS (send
        :meth:`fileno`, wrap the received one with :meth:`from_fd`).
        ``name`` only labels it (``/proc/PID/fd`` shows ``memfd:NAME``);
        :meth:`unlink` does nothing, as there is no name to remove: the
        memory goes when the last descriptor and mapping go."""
        size = _check_shm_size(size)
        name = _check_memfd_name(name)
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            _allocate(fd, size, "memory (memfd)")
        except BaseException:
            os.close(fd)
            raise
        return cls._adopt_fd(fd, name, created=True)

    @classmethod
    def from_fd(cls, fd: int) -> SharedMemory:
        """Wrap the descriptor ``fd`` of a segment (a memfd or a /dev/shm
        file received over SCM_RIGHTS, say); the object owns ``fd`` from
        then on. It behaves as an anonymous segment: ``unlink`` does
        nothing and pickling passes the descriptor."""
        fd = check_int(fd, "fd", 0)
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            raise ValueError(f"descriptor {fd} is not a shared memory file")
        try:
            label = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            label = f"fd {fd}"
        if label.startswith("/memfd:"):
            label = label[len("/memfd:"):]
            if label.endswith(" (deleted)"):
                label = label[:-len(" (deleted)")]
        return cls._adopt_fd(fd, label, created=False)

    @classmethod
    def _adopt_fd(cls, fd: int, name: str, *, created: bool) -> SharedMemory:
        self = cls.__new__(cls)
        self._name = name
        self._bind(fd, created, anonymous=True)
        return self

    @property
    def is_anonymous(self) -> bool:
        """True for a segment made by :meth:`anonymous` or :meth:`from_fd`."""
        return self._anonymous

    @property
    def size(self) -> int:
        """The segment's size in bytes, as the kernel has it now (fstat:
        another process may have resized it)."""
        self._check_open()
        return os.fstat(self._fd).st_size

    def fileno(self) -> int:
        """The segment's descriptor (owned by this object)."""
        self._check_open()
        return self._fd

    def resize(self, size: int) -> None:
        """Set the segment's size (ftruncate); new bytes read as zeros and
        are allocated at once (ENOSPC now, the size unchanged, rather than
        SIGBUS later). Mappings made before keep their length: attach again
        to see the new bytes.

        Raises:
            BufferError: shrinking below the end of a mapping this object
                still has (detach it first; a mapping of another process
                past the new end would fault on access, as with any file).
        """
        self._check_open()
        size = _check_shm_size(size)
        with naming(self._name):
            old = os.fstat(self._fd).st_size
            if size < old:
                self._maps = [m for m in self._maps if not m.closed]
                longest = max((len(m) for m in self._maps), default=0)
                if longest > size:
                    raise BufferError(f"cannot shrink {self._name!r} to {size} bytes: a "
                                      f"{longest}-byte mapping of it is attached (detach() "
                                      "first, after releasing its views)")
                os.ftruncate(self._fd, size)
            elif size > old:
                os.ftruncate(self._fd, size)
                try:
                    _allocate(self._fd, size, "memory (memfd)" if self._anonymous else _SHM_DIR)
                except BaseException:
                    os.ftruncate(self._fd, old)
                    raise

    def attach(self, *, readonly: bool = False) -> memoryview:
        """Map the whole segment (mmap MAP_SHARED) and return a memoryview
        over it: the segment itself, seen at once by every process that
        maps it. With ``readonly=True`` the view is read-only (writing
        raises TypeError). Each call makes a mapping of its own, which
        stays until :meth:`detach` (not when its view is released).

        Raises:
            ValueError: the segment has 0 bytes (there is nothing to map).
        """
        self._check_open()
        with naming(self._name):
            size = os.fstat(self._fd).st_size
            if size == 0:
                raise ValueError(f"cannot attach the 0-byte segment {self._name!r} "
                                 "(resize() it first)")
            mm = mmap.mmap(self._fd, size, access=mmap.ACCESS_READ if readonly
                           else mmap.ACCESS_WRITE)
        self._maps = [m for m in self._maps if not m.closed]
        self._maps.append(mm)
        return memoryview(mm)

    def detach(self) -> None:
        """Unmap every mapping :meth:`attach` made. A mapping whose views
        still exist stays: BufferError, after unmapping the others (release
        the views, e.g. ``view.release()``, or drop them)."""
        self._check_open()
        busy = self._detach_idle()
        if busy:
            raise BufferError(f"cannot detach {busy} mapping(s) of {self._name!r}: views "
                              "of them still exist (release them first, e.g. "
                              "view.release())")

    def _detach_idle(self) -> int:
        """Unmap every mapping without views; return how many have views."""
        kept = []
        for m in self._maps:
            try:
                m.close()
            except BufferError:
                kept.append(m)
        self._maps = kept
        return len(kept)

    @property
    def attached(self) -> bool:
        """Whether a mapping :meth:`attach` made is still mapped."""
        return any(not m.closed for m in self._maps)

    def _span(self, offset: object, size: object) -> tuple[int, int]:
        offset = check_int(offset, "offset", 0)
        total = os.fstat(self._fd).st_size
        if offset > total:
            raise ValueError(f"offset {offset} is past the end of the {total}-byte "
                             f"segment {self._name!r}")
        if size is None:
            size = total - offset
        size = check_int(size, "size", 0)
        if offset + size > total:
            raise ValueError(f"{size} bytes at offset {offset} overrun the {total}-byte "
                             f"segment {self._name!r}")
        return offset, size

    def read(self, size: int | None = None, offset: int = 0) -> bytes:
        """Copy ``size`` bytes (default: to the end) from ``offset``
        (pread). ValueError, before any read, if that overruns the
        segment."""
        self._check_open()
        with naming(self._name):
            offset, size = self._span(offset, size)
            chunks = []
            while size > 0:
                chunk = os.pread(self._fd, size, offset)
                if not chunk:  # another process shrank it meanwhile
                    break
                chunks.append(chunk)
                size -= len(chunk)
                offset += len(chunk)
        return b"".join(chunks)

    def write(self, data: Any, offset: int = 0) -> int:
        """Copy ``data`` (any bytes-like object) into the segment at
        ``offset`` (pwrite); returns its length. ValueError, with nothing
        written, if it would overrun the segment."""
        self._check_open()
        if isinstance(data, str):
            raise TypeError("data must be bytes-like, not str")
        with memoryview(data) as src, naming(self._name):
            if not src.c_contiguous:
                src = memoryview(src.tobytes())
            n = src.nbytes
            offset, _ = self._span(offset, n)
            done = 0
            with src.cast("B") as flat:
                while done < n:
                    done += os.pwrite(self._fd, flat[done:], offset + done)
        return n

    def _before_close(self) -> None:
        # Mappings with views stay mapped until their views go (each holds
        # its own reference to the memory); the rest are unmapped now.
        self._detach_idle()
        self._maps = []

    def _close_handle(self) -> None:
        fd, self._fd = self._fd, -1
        os.close(fd)

    def _unlink_name(self) -> None:
        if not self._anonymous:  # an anonymous segment has no name to remove
            _core.pshm_unlink(self._name)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # The name may have been unlinked and given to another segment
        # meanwhile: ``with`` removes only the segment this object created.
        if self._created and not self._closed and not self._anonymous:
            try:
                ours = os.fstat(self._fd)
                there = os.stat(_SHM_DIR + self._name, follow_symlinks=False)
                if (ours.st_dev, ours.st_ino) != (there.st_dev, there.st_ino):
                    self._created = False
            except FileNotFoundError:
                self._created = False
        super().__exit__(exc_type, exc, tb)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as a reference: by name (the copy opens the segment,
        never as its creator), or for an anonymous segment by descriptor."""
        self._check_open()
        if self._anonymous:
            from multiprocessing import reduction
            return (_rebuild_anonymous_segment, (reduction.DupFd(self._fd), self._name))
        return (_open_existing_segment, (self._name,))

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        kind = "SharedMemory.anonymous" if self._anonymous else "SharedMemory"
        return f"<posix.{kind} {self._name!r}{state}>"


def _open_existing_segment(name: str) -> SharedMemory:
    return SharedMemory(name)


def _rebuild_anonymous_segment(dup: Any, name: str) -> SharedMemory:
    return SharedMemory._adopt_fd(dup.detach(), name, created=False)
