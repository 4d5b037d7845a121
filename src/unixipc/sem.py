"""System V semaphore sets.

A set holds ``count`` semaphores (non-negative counters kept by the kernel).
:meth:`SemaphoreSet.op` applies any number of operations to a set in ONE
atomic ``semop``: all of them, or none (waiting, or failing without
blocking). ``sems[i]`` is a :class:`Semaphore` with the usual acquire and
release. The hot calls are C methods of ``_core.SemaphoreSetBase`` and
``_core.SemaphoreBase``.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from types import TracebackType
from typing import Sequence

from . import _core
from ._aio import run_cancellable
from ._timeouts import Deadline
from ._args import flat_list
from ._sysv import Kernel, SysVObject, check_int
from .keys import Permissions, each_slot

__all__ = ["SemaphoreSet", "Semaphore", "SemaphoreSetStat", "SemaphoreLimits",
           "semaphore_sets", "semaphore_limits", "SemaphoreUsage", "semaphore_usage",
           "SEM_UNDO", "IPC_NOWAIT", "SEMVMX"]

#: The name of the worker threads of the async twins.
_WORKER = "unixipc-sem-wait"

#: Per-operation flags for the third item of an op tuple.
SEM_UNDO: int = _core.SEM_UNDO
IPC_NOWAIT: int = _core.IPC_NOWAIT
#: The largest value a semaphore can hold (Linux).
SEMVMX: int = _core.SEMVMX


@dataclass(frozen=True, slots=True)
class SemaphoreSetStat:
    """Everything ``semctl(IPC_STAT)`` reports about a set.

    Attributes:
        id: the set's identifier (semid).
        perm: owner, creator, mode, key, seq.
        count: how many semaphores the set holds (sem_nsems).
        op_time: last semop, seconds since the epoch (0: never).
        change_time: creation or last IPC_SET/SETVAL/SETALL.
    """

    id: int
    perm: Permissions
    count: int
    op_time: int
    change_time: int

    @classmethod
    def _from_raw(cls, raw: dict[str, int]) -> SemaphoreSetStat:
        perm = Permissions(key=raw["key"], uid=raw["uid"], gid=raw["gid"], cuid=raw["cuid"],
                           cgid=raw["cgid"], mode=raw["mode"], seq=raw["seq"])
        return cls(id=raw["id"], perm=perm, count=raw["count"], op_time=raw["op_time"],
                   change_time=raw["change_time"])


@dataclass(frozen=True, slots=True)
class SemaphoreLimits:
    """System-wide limits (``semctl(IPC_INFO)``): semmsl semaphores per set,
    semopm operations per semop, semvmx the largest value, semmni sets."""

    max_per_set: int
    max_ops_per_call: int
    max_value: int
    max_sets: int


def semaphore_limits() -> SemaphoreLimits:
    """The system's limits (/proc/sys/kernel/sem: semmsl, semopm, semmni)."""
    info = _core.sem_info(_core.IPC_INFO)
    return SemaphoreLimits(max_per_set=info["semmsl"], max_ops_per_call=info["semopm"],
                           max_value=info["semvmx"], max_sets=info["semmni"])


@dataclass(frozen=True, slots=True)
class SemaphoreUsage:
    """What the semaphore sets of this IPC namespace use now
    (``semctl(SEM_INFO)``, what ``ipcs -u`` shows).

    Attributes:
        sets: semaphore sets that exist (semusz), held against
            ``semaphore_limits().max_sets`` (semmni).
        semaphores: semaphores in all of them (semaem), held against the
            system-wide semmns (the second field of /proc/sys/kernel/sem).
    """

    sets: int
    semaphores: int


def semaphore_usage() -> SemaphoreUsage:
    """Sets and semaphores in use in this IPC namespace (``semctl(SEM_INFO)``)."""
    info = _core.sem_info(_core.SEM_INFO)
    return SemaphoreUsage(sets=info["semusz"], semaphores=info["semaem"])


def semaphore_sets() -> list[SemaphoreSetStat]:
    """The stat of every semaphore set in this IPC namespace (``ipcs -s``)."""
    max_index = _core.sem_info(_core.SEM_INFO)["max_index"]
    return [SemaphoreSetStat._from_raw(raw) for raw in each_slot(max_index, _core.sem_stat)]


def _check_value(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a semaphore value must be an int, not {type(value).__name__}")
    if not 0 <= value <= SEMVMX:
        raise ValueError(f"a semaphore value must be in 0..{SEMVMX} (ERANGE), not {value}")
    return value


class Semaphore(_core.SemaphoreBase):
    """One semaphore of a set (``sems[i]``).

    ``acquire(delta=1, *, block=True, undo=True, timeout=None)`` subtracts
    ``delta``, waiting while the value is smaller; ``release(delta=1, *,
    undo=True)`` adds it (never blocks); ``wait_zero(*, block=True,
    timeout=None)`` waits until the value is 0. ``block=False`` raises
    BlockingIOError instead of waiting; ``timeout=`` raises TimeoutError
    (semtimedop). Removal of the set while waiting raises ObjectRemovedError.
    With ``undo=True`` (SEM_UNDO) the kernel reverses the change if this
    process exits without doing so.

    As a context manager: acquire on entry, release on exit, both with undo.
    """

    def __init__(self, semid: int, index: int) -> None:
        super().__init__()
        self._bind(semid, index)

    @property
    def value(self) -> int:
        """GETVAL; setting it is SETVAL (0..SEMVMX)."""
        return _core.semctl_get(self.semid, self.index, _core.GETVAL)

    @value.setter
    def value(self, value: int) -> None:
        _core.semctl_setval(self.semid, self.index, _check_value(value))

    @property
    def ncount(self) -> int:
        """GETNCNT: processes waiting for the value to grow."""
        return _core.semctl_get(self.semid, self.index, _core.GETNCNT)

    @property
    def zcount(self) -> int:
        """GETZCNT: processes waiting for the value to become 0."""
        return _core.semctl_get(self.semid, self.index, _core.GETZCNT)

    @property
    def last_pid(self) -> int:
        """GETPID: the process of the last operation on this semaphore."""
        return _core.semctl_get(self.semid, self.index, _core.GETPID)

    async def acquire_async(self, delta: int = 1, *, block: bool = True, undo: bool = True,
                            timeout: float | None = None) -> None:
        """``acquire`` for asyncio: waits without blocking the event loop.

        An attempt is made at once; if it would wait, the wait runs in a
        worker thread blocked in ``semtimedop`` (no polling). Cancelling the
        awaiting task interrupts that wait without losing a decrement: if the
        semaphore was already taken when the cancellation arrived, the call
        returns normally (the cancellation is absorbed), otherwise nothing
        was taken and CancelledError is raised.
        """
        try:
            return self.acquire(delta, block=False, undo=undo)
        except BlockingIOError:
            if not block:
                raise
        if timeout == 0:
            return self.acquire(delta, undo=undo, timeout=0)
        await run_cancellable(lambda token: self.acquire(delta, undo=undo, timeout=timeout,
                                                         _cancel=token), _WORKER)

    async def wait_zero_async(self, *, block: bool = True,
                              timeout: float | None = None) -> None:
        """``wait_zero`` for asyncio (see :meth:`acquire_async`)."""
        try:
            return self.wait_zero(block=False)
        except BlockingIOError:
            if not block:
                raise
        if timeout == 0:
            return self.wait_zero(timeout=0)
        await run_cancellable(lambda token: self.wait_zero(timeout=timeout, _cancel=token),
                              _WORKER)

    def __enter__(self) -> Semaphore:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<Semaphore {self.index} of set {self.semid}>"


class SemaphoreSet(SysVObject[SemaphoreSetStat], _core.SemaphoreSetBase):
    """A System V semaphore set.

    Args:
        key: the set's key (see :func:`unixipc.ftok`); None always makes a
            new private set (IPC_PRIVATE).
        count: how many semaphores (a new set's size; an existing set must
            have at least this many, else ValueError).
        create, exclusive: IPC_CREAT, IPC_EXCL (``exclusive`` implies
            ``create``).
        mode: permission bits of a new set (``0o600`` unless asked); when
            opening an existing set, the access asked for (semget checks
            it): the default asks for read and alter, so a set this user
            may only alter raises PermissionError; ``0o200`` opens it for
            op/acquire/release/SETALL, ``0`` asks for nothing (enough for
            the owner's ``remove()``).
        initial: starting values of a NEW set, an int for all or a list, set
            with one SETALL right after creation (see docs/sem.md for
            the creation race and how it is closed). When the set already
            exists (another process won the race to create it), the values
            are left alone and this call waits until its creator has
            initialised it (its sem_otime is set), at most ``init_timeout``
            seconds (TimeoutError).

    Opening, ``from_id``, ``created``/``removed``, ``remove``, ``set``,
    pickling (as a reference) and the context manager follow the rules of
    the whole System V family (see :mod:`unixipc._sysv`).

    Raises:
        FileNotFoundError, FileExistsError, PermissionError: as semget.
        TypeError, ValueError: bad arguments, before any system call.
    """

    _kernel = Kernel("semaphore set", "semid", "semctl",
                     stat=lambda i: SemaphoreSetStat._from_raw(_core.semctl_stat(i)),
                     listing=semaphore_sets, rmid=_core.semctl_rmid, set=_core.semctl_set)

    def __init__(self, key: int | None = None, count: int = 1, *, create: bool = False,
                 exclusive: bool = False, mode: int = 0o600,
                 initial: int | Sequence[int] | None = None,
                 init_timeout: float = 10.0) -> None:
        super().__init__()
        count = check_int(count, "count", 1)
        values: list[int] | None = None
        if initial is not None:
            values = [initial] * count if isinstance(initial, int) else list(initial)
            if len(values) != count:
                raise ValueError(f"initial has {len(values)} values for {count} semaphores")
            for v in values:
                _check_value(v)
        with self._opening(key, create=create, exclusive=exclusive, mode=mode,
                           new=lambda k, flags: _core.semget(k, count, flags),
                           existing=lambda k, m: _core.semget(k, 0, m)) as (semid, created):
            if created:
                # What we created we know: no IPC_STAT, which a mode without
                # the owner's read bit (0o200) would refuse.
                nsems = count
            else:
                nsems = self._stat_any(semid).count
                if nsems < count:
                    raise ValueError(f"the existing set {semid} has {nsems} semaphores, "
                                     f"fewer than count={count}")
            self._bind(semid, nsems)
            if created and values is not None:
                _core.semctl_setall(semid, values)
                # A semop that changes nothing sets sem_otime: the sign,
                # for processes opening the set by key, that it is ready.
                step = -1 if values[0] > 0 else 1
                self.op((0, step), (0, -step))
            elif values is not None:
                self._wait_initialised(init_timeout)

    def _adopt(self, obj_id: int, found: SemaphoreSetStat) -> None:
        _core.SemaphoreSetBase.__init__(self)
        self._bind(obj_id, found.count)

    def _repr_extra(self) -> str:
        return f" count={len(self)}"

    def _wait_initialised(self, timeout: float) -> None:
        import time

        deadline = Deadline(timeout)
        pause = 0.0005
        while self._stat_any(self.id).op_time == 0:
            if deadline.expired:
                raise TimeoutError(errno.ETIMEDOUT, f"semaphore set {self.id} was not "
                                   f"initialised by its creator within {timeout} s")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def __getitem__(self, index: int) -> Semaphore:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"semaphore index must be an int, not {type(index).__name__}")
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"semaphore index out of range (the set has {n})")
        return Semaphore(self.id, index)

    async def op_async(self, *ops: tuple[int, int] | tuple[int, int, int], block: bool = True,
                       undo: bool = False, timeout: float | None = None) -> None:
        """``op`` for asyncio: the same ONE atomic semop, waiting in a worker
        thread when it cannot complete at once. Cancellation interrupts the
        wait: either every operation was applied (the call returns, the
        cancellation is absorbed) or none was (CancelledError)."""
        try:
            return self.op(*ops, block=False, undo=undo)
        except BlockingIOError:
            if not block:
                raise
        if timeout == 0:
            return self.op(*ops, undo=undo, timeout=0)
        await run_cancellable(lambda token: self.op(*ops, undo=undo, timeout=timeout,
                                                    _cancel=token), _WORKER)

    @property
    def values(self) -> list[int]:
        """GETALL: every value at once; setting it is one SETALL.

        Both check the set's count with a fresh IPC_STAT first: if the set
        was removed and its id reused by a set of another size, they raise
        ObjectRemovedError (EIDRM) naming the set."""
        return _core.semctl_getall(self.id, len(self))

    @values.setter
    def values(self, values: Sequence[int]) -> None:
        values = flat_list(values, "values")
        if len(values) != len(self):
            raise ValueError(f"{len(values)} values for a set of {len(self)}")
        for v in values:
            _check_value(v)
        _core.semctl_setall(self.id, values, len(self))
