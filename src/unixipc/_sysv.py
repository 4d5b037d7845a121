"""The lifecycle the three System V kinds share, written once.

:class:`SysVObject` is the base of :class:`~unixipc.MessageQueue`,
:class:`~unixipc.SemaphoreSet` and :class:`~unixipc.SharedMemory`: opening
or creating (the race loop of :func:`keys.open_or_create`), ``from_id``,
``created``/``removed``, ``remove()``, the context manager, ``set()``,
pickling, ``repr`` and the argument checks. It is a plain Python mixin
placed before the C base of a kind (``_core.MessageQueueBase``,
``_core.SemaphoreSetBase``), so it never calls into C by method name, nor C
into it: each kind supplies small hooks with explicit inputs and outputs
(its IPC_STAT, its listing, its IPC_RMID and IPC_SET, and how a handle
takes on an existing object).

The rules every kind follows:

- ``key=None`` (or ``IPC_PRIVATE``) always makes a new object, and
  ``exclusive=True`` implies ``create=True``: what the call asks for is
  clear either way, so it is done rather than refused.
- ``created`` is True only for the handle whose call created the object;
  copies (``from_id``, pickling) are never its creator.
- ``removed`` is True once this handle's ``remove()`` (or its ``with``
  block's exit) removed the object or found it already gone.
- A handle that removed its object refuses a second ``remove()`` without a
  system call (the id may already name someone else's new object), and
  every other call on a removed object raises ObjectRemovedError naming it
  (the C core's ``unixipc_name_removed``; see docs/design.md).
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Callable, Generic, Iterator, Protocol, TypeVar, TYPE_CHECKING

from . import _core
from .errors import ObjectRemovedError
from .keys import (Permissions, format_key, merged_perm, normalize_key, open_or_create,
                   removed_on_failure, stat_even_unreadable)

__all__ = ["Kernel", "SysVObject", "check_id", "check_int", "check_mode", "check_owner",
           "creates"]


class _Stat(Protocol):
    """What every kind's stat record has: its id and its ``ipc_perm``."""

    @property
    def id(self) -> int: ...

    @property
    def perm(self) -> Permissions: ...


_St = TypeVar("_St", bound=_Stat)
_O = TypeVar("_O", bound="SysVObject[Any]")

#: Ids are C ints the kernel hands out >= 0; uid/gid are uid_t with
#: (uid_t)-1 reserved ("no change" in chown).
_ID_MAX = 2**31 - 1
_OWNER_MAX = 2**32 - 2


def check_int(value: object, name: str, minimum: int | None = None) -> int:
    """``value`` as an int (TypeError otherwise, a bool included), at least
    ``minimum`` if given (ValueError)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value}")
    return value


def check_mode(mode: object) -> int:
    """``mode`` as permission bits 0..0o777."""
    mode = check_int(mode, "mode")
    if not 0 <= mode <= 0o777:
        raise ValueError(f"mode must be permission bits in 0..0o777, not {mode:#o}")
    return mode


def check_owner(value: object, name: str) -> int:
    """A uid or gid for IPC_SET: 0..2**32-2."""
    value = check_int(value, name)
    if not 0 <= value <= _OWNER_MAX:
        raise ValueError(f"{name} must be in 0..2**32-2, not {value}")
    return value


def check_id(value: object, name: str) -> int:
    """An object id (msqid, semid, shmid): 0..2**31-1."""
    value = check_int(value, name)
    if not 0 <= value <= _ID_MAX:
        raise ValueError(f"{name} must be in 0..2**31-1, not {value}")
    return value


def creates(key: int, create: bool, exclusive: bool) -> bool:
    """Whether opening ``key`` (already normalised) may create: asked for
    (``create``), implied by ``exclusive``, or a private key, which always
    makes a new object."""
    return bool(create or exclusive or key == _core.IPC_PRIVATE)


@dataclass(frozen=True)
class Kernel(Generic[_St]):
    """How one System V kind is named and reached: what the family base
    needs of it, as plain functions (explicit inputs and outputs).

    Attributes:
        noun: what errors call an object: "message queue".
        id_name: its id in argument errors: "msqid".
        ctl: its control call, for errors raised without one: "msgctl".
        stat: IPC_STAT of an id, as the kind's stat record.
        listing: every object's stat record (the slot walk).
        rmid: IPC_RMID of an id.
        set: IPC_SET of an id with every field given: ``(id, uid, gid, mode)``.
        key_noun: what errors of opening by key call it, when not ``noun``
            ("shared memory key 0x00001234", as ipcs says "Shared Memory").
    """

    noun: str
    id_name: str
    ctl: str
    stat: Callable[[int], _St]
    listing: Callable[[], list[_St]]
    rmid: Callable[[int], None]
    set: Callable[[int, int, int, int], None]
    key_noun: str = ""


class SysVObject(Generic[_St]):
    """The lifecycle of a System V object, shared by the three kinds.

    A kind sets ``_kernel`` and binds the rest of its handle in its
    constructor (inside :meth:`_opening`) and in :meth:`_adopt` (for
    :meth:`from_id`).
    """

    _kernel: Kernel[_St]
    _key: int
    _created: bool
    _removed: bool

    if TYPE_CHECKING:
        @property
        def id(self) -> int:
            """The kernel's id of the object (each kind provides it)."""
            raise NotImplementedError

    # ---- what each kind provides -----------------------------------------------

    def _adopt(self, obj_id: int, found: _St) -> None:
        """Bind this new handle to the existing object ``found`` describes."""
        raise NotImplementedError

    def _repr_extra(self) -> str:
        """What ``repr`` shows after the key (" count=2")."""
        return ""

    # ---- opening ---------------------------------------------------------------

    @contextlib.contextmanager
    def _opening(self, key: int | None, *, create: bool, exclusive: bool, mode: int,
                 new: Callable[[int, int], int],
                 existing: Callable[[int, int], int]) -> Iterator[tuple[int, bool]]:
        """Open or create, then yield ``(id, created)`` for the kind to bind
        its handle; if binding fails, what this call created is removed.

        ``new(key, flags)`` makes the object (flags: IPC_CREAT|IPC_EXCL and
        the mode), ``existing(key, mode)`` opens it asking for ``mode``.
        The key and mode are checked before either is called.
        """
        c_key = normalize_key(key)
        mode = check_mode(mode)
        obj_id, created = open_or_create(
            f"{self._kernel.key_noun or self._kernel.noun} key {format_key(c_key)}",
            lambda: new(c_key, _core.IPC_CREAT | _core.IPC_EXCL | mode),
            lambda: existing(c_key, mode),
            create=creates(c_key, create, exclusive), exclusive=exclusive)
        with removed_on_failure(created, lambda: self._kernel.rmid(obj_id)):
            self._key, self._created, self._removed = c_key, created, False
            yield obj_id, created

    @classmethod
    def _stat_any(cls, obj_id: int) -> _St:
        """The stat record of ``obj_id``, also without read permission
        (from the ``*_STAT_ANY`` listing)."""
        return stat_even_unreadable(obj_id, cls._kernel.stat, cls._kernel.listing)

    @classmethod
    def from_id(cls: type[_O], obj_id: int) -> _O:
        """Open an existing object by its id (as ``ipcs`` shows it).

        Opening asks for no access (the kernel checks each call): without
        read permission on the object, its key and size come from the
        ``*_STAT_ANY`` listing. The handle is not the object's creator.

        Raises:
            TypeError, ValueError: the id is not an int in 0..2**31-1.
            ObjectRemovedError: no object has this id (now).
            PermissionError: IPC_STAT is refused and the kernel has no
                ``*_STAT_ANY``.
        """
        obj_id = check_id(obj_id, cls._kernel.id_name)
        found = cls._stat_any(obj_id)
        self = cls.__new__(cls)
        self._adopt(obj_id, found)
        self._key, self._created, self._removed = found.perm.key, False, False
        return self

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        """Pickle as a reference to the kernel object (its id), never as
        its creator: a copy's ``with`` block or ``created`` check cannot
        remove the original's object."""
        return (type(self).from_id, (self.id,))

    # ---- identity --------------------------------------------------------------

    @property
    def key(self) -> int:
        """The key the object was opened with (0 for IPC_PRIVATE)."""
        return self._key

    @property
    def created(self) -> bool:
        """True when this handle's constructor created the object (and so
        removes it on leaving a ``with`` block); False for an object that
        was opened, and for every copy (``from_id``, pickling)."""
        return self._created

    @property
    def removed(self) -> bool:
        """True once this handle's :meth:`remove` (or its ``with`` block's
        exit) removed the object or found it already gone."""
        return self._removed

    def __repr__(self) -> str:
        gone = " removed" if self._removed else ""
        return (f"<{type(self).__name__} id={self.id} key={format_key(self._key)}"
                f"{self._repr_extra()}{gone}>")

    # ---- control ---------------------------------------------------------------

    def stat(self) -> _St:
        """The object's status record (IPC_STAT).

        Raises:
            PermissionError: no read permission.
            ObjectRemovedError: the object was removed.
        """
        return self._kernel.stat(self.id)

    def _merged_perm(self, mode: int | None, uid: int | None,
                     gid: int | None) -> tuple[int, int, int]:
        """``(uid, gid, mode)`` for IPC_SET: the arguments checked, and the
        current values for those left None (read also without read
        permission, so the kernel's own verdict on IPC_SET is what the
        caller gets)."""
        if mode is not None:
            check_mode(mode)
        if uid is not None:
            check_owner(uid, "uid")
        if gid is not None:
            check_owner(gid, "gid")
        return merged_perm(self._stat_any(self.id).perm, mode, uid, gid)

    def set(self, *, mode: int | None = None, uid: int | None = None,
            gid: int | None = None) -> None:
        """Change the owner or the permission bits (IPC_SET); fields left
        None keep their value.

        Only the owner, the creator or a privileged process may do this.

        Raises:
            TypeError, ValueError: bad arguments (nothing is changed).
            PermissionError: not allowed (EPERM).
            ObjectRemovedError: the object was removed.
        """
        self._kernel.set(self.id, *self._merged_perm(mode, uid, gid))

    def remove(self) -> None:
        """Remove the object now (IPC_RMID).

        A message queue or semaphore set goes at once (every process blocked
        on it wakes with ObjectRemovedError); a shared memory segment is
        marked for removal and goes at its last detach. Only the owner, the
        creator or a privileged process may do this.

        Raises:
            PermissionError: not allowed (EPERM).
            ObjectRemovedError: the object was already removed (by this
                handle: refused without a system call, since its id may
                already name a new object).
        """
        call = f"{self._kernel.ctl}(IPC_RMID)"
        if self._removed:
            raise ObjectRemovedError(errno.EINVAL, f"{call}: {os.strerror(errno.EINVAL)}",
                                     f"{self._kernel.noun} {self.id} (removed)")
        try:
            self._kernel.rmid(self.id)
        except ObjectRemovedError:
            self._removed = True
            raise
        self._removed = True

    # ---- context manager -------------------------------------------------------

    def __enter__(self: _O) -> _O:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Remove the object if this handle created it and has not removed
        it yet; an object someone else removed meanwhile is left alone."""
        if self._created and not self._removed:
            with contextlib.suppress(ObjectRemovedError):
                self.remove()
