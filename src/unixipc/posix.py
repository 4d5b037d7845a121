"""The POSIX IPC family: named semaphores (``sem_open``).

``Semaphore("/name", create=True)`` opens or makes a named semaphore, seen
by every process of this IPC namespace that opens the same name (Linux keeps
it as ``/dev/shm/sem.NAME``). Waits release the GIL, are bounded with
``sem_clockwait(CLOCK_MONOTONIC)`` and retry after signals with the time
left. See docs/psem.md for the rules, and for what a crash leaves behind: a
POSIX semaphore has no undo.
"""

from __future__ import annotations

import os
import stat as _stat
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from . import _core
from ._aio import run_cancellable
from ._closable import ClosableResource
from ._sysv import check_int, check_mode
from .errors import naming

__all__ = ["Semaphore", "SemaphoreEntry", "semaphores", "SEM_VALUE_MAX"]

#: The largest value a POSIX semaphore can hold.
SEM_VALUE_MAX: int = _core.SEM_VALUE_MAX

#: Where Linux keeps named semaphores (one file per name, ``sem.`` + name).
_SHM_DIR = "/dev/shm"
_PREFIX = "sem."
#: A name is a file name in /dev/shm after the "sem." prefix (NAME_MAX 255).
_NAME_MAX = 255 - len(_PREFIX)
_WORKER = "unixipc-psem-wait"


def check_name(name: object) -> str:
    """A POSIX IPC name: one leading slash and no other, then 1..251
    characters (ValueError saying which rule it breaks; TypeError for a
    non-str)."""
    if not isinstance(name, str):
        raise TypeError(f"a POSIX semaphore name must be a str, not {type(name).__name__}")
    if not name.startswith("/"):
        raise ValueError(f"a POSIX semaphore name must start with '/': {name!r}")
    rest = name[1:]
    if not rest:
        raise ValueError("a POSIX semaphore name needs at least one character after '/'")
    if "/" in rest:
        raise ValueError(f"a POSIX semaphore name may hold only its leading '/': {name!r}")
    if "\0" in rest:
        raise ValueError(f"a POSIX semaphore name may not hold a NUL character: {name!r}")
    if rest in (".", ".."):
        raise ValueError(f"a POSIX semaphore name may not be {name!r}")
    if len(os.fsencode(rest)) > _NAME_MAX:
        raise ValueError(f"a POSIX semaphore name may hold at most {_NAME_MAX} bytes "
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


def semaphores() -> list[SemaphoreEntry]:
    """Every named POSIX semaphore of this IPC namespace (the ``sem.*``
    entries of /dev/shm), sorted by name."""
    found = []
    try:
        entries = list(os.scandir(_SHM_DIR))
    except FileNotFoundError:
        return []
    for entry in entries:
        if not entry.name.startswith(_PREFIX):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # unlinked while we looked
            continue
        if not _stat.S_ISREG(st.st_mode):
            continue
        found.append(SemaphoreEntry(name="/" + entry.name[len(_PREFIX):], uid=st.st_uid,
                                    gid=st.st_gid, mode=_stat.S_IMODE(st.st_mode)))
    return sorted(found, key=lambda e: e.name)


class Semaphore(ClosableResource):
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

    Raises:
        FileNotFoundError, FileExistsError, PermissionError: as sem_open,
            naming the semaphore.
        TypeError, ValueError: bad arguments, before any system call.
    """

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
                    self._handle = _core.psem_open(name, 0, 0, 0)
            else:
                self._handle = _core.psem_open(name, 0, 0, 0)
        self._closed = False
        self._opened()

    @property
    def name(self) -> str:
        """The semaphore's name, with its leading slash."""
        return self._name

    @property
    def created(self) -> bool:
        """True when this object made the semaphore (its ``with`` unlinks it)."""
        return self._created

    @property
    def closed(self) -> bool:
        return self._closed

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
        self._check_open()
        self._handle.acquire(block=block, timeout=timeout)

    def release(self) -> None:
        """Add one unit (sem_post; never blocks). OSError with errno
        EOVERFLOW past SEM_VALUE_MAX."""
        self._check_open()
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

    def close(self) -> None:
        """Close this process's handle (sem_close); the semaphore and its
        name stay. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._handle.close()

    def unlink(self) -> None:
        """Remove the name (sem_unlink): no process can open it again; those
        holding it keep it until they close it. FileNotFoundError when it is
        already gone."""
        with naming(self._name):
            _core.psem_unlink(self._name)

    def __enter__(self) -> Semaphore:
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

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickle as a reference by name (the copy opens the semaphore,
        never as its creator)."""
        self._check_open()
        return (_open_existing, (self._name,))

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
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
