"""System V IPC keys and the permission record every object carries."""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol, TypeVar

from . import _core
from .errors import naming

__all__ = ["IPC_PRIVATE", "Permissions", "ftok"]

_T = TypeVar("_T")


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


_S = TypeVar("_S", bound=_HasId)

#: The key that always makes a new, private object (``key=None`` does too).
IPC_PRIVATE: int = _core.IPC_PRIVATE


def ftok(path: str | bytes | os.PathLike[str] | os.PathLike[bytes], proj_id: int) -> int:
    """Derive a System V key from an existing file and a project id.

    The result is the C library's ``ftok`` for the same file and id: built
    from the file's inode and device numbers and the low 8 bits of
    ``proj_id``. Two processes that call it with the same file and id get the
    same key, which is how unrelated programs agree on a queue or segment.

    Args:
        path: an existing file, which both sides can ``stat``.
        proj_id: 1 to 255 (POSIX leaves 0 unspecified; the C library uses
            only the low 8 bits, so larger values would silently collide).

    Returns:
        The key as C's ``key_t`` (a signed 32-bit value; ``ipcs`` shows it as
        ``key & 0xffffffff`` in hex).

    Raises:
        TypeError: ``proj_id`` is not an int, or ``path`` is not a path.
        ValueError: ``proj_id`` is outside 1..255.
        FileNotFoundError, PermissionError: ``stat`` of ``path`` failed.
    """
    if isinstance(proj_id, bool) or not isinstance(proj_id, int):
        raise TypeError(f"proj_id must be an int, not {type(proj_id).__name__}")
    if not 1 <= proj_id <= 255:
        raise ValueError(f"proj_id must be in 1..255, not {proj_id}")
    return int(_core.ftok(os.fspath(path), proj_id))


def normalize_key(key: int | None) -> int:
    """Validate a user's key and return it as C's signed ``key_t``.

    ``None`` means IPC_PRIVATE. Keys are accepted as signed (C's view, what
    ``ftok`` returns) or unsigned (``ipcs``'s view, e.g. ``0xdeadbeef``).
    """
    if key is None:
        return IPC_PRIVATE
    if isinstance(key, bool) or not isinstance(key, int):
        raise TypeError(f"key must be an int or None, not {type(key).__name__}")
    if not -(2**31) <= key < 2**32:
        raise ValueError(f"key {key:#x} does not fit in a 32-bit key_t")
    return key - 2**32 if key >= 2**31 else key


def format_key(key: int) -> str:
    """A key as ``ipcs`` prints it: ``0x`` and eight hex digits."""
    return f"0x{key & 0xFFFFFFFF:08x}"


@dataclass(frozen=True, slots=True)
class Permissions:
    """The ``ipc_perm`` record of a queue, semaphore set or segment.

    Attributes:
        key: the key it was created with (0 for IPC_PRIVATE).
        uid, gid: the owner, who may change the permissions or remove it.
        cuid, cgid: the creator.
        mode: the permission bits (``0o600`` by default for new objects).
        seq: the kernel's slot-usage sequence number.
    """

    key: int
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int
    seq: int


def merged_perm(current: Permissions, mode: int | None, uid: int | None,
                gid: int | None) -> tuple[int, int, int]:
    """(uid, gid, mode) for IPC_SET: the given values, the current ones
    for the rest."""
    return (current.uid if uid is None else uid, current.gid if gid is None else gid,
            current.mode if mode is None else mode)


def each_slot(max_index: int, stat: Callable[[int], _T]) -> Iterator[_T]:
    """``stat(index)`` for every kernel slot 0..max_index (from *_INFO),
    skipping unused slots (EINVAL), objects removed meanwhile (EIDRM) and,
    where *_STAT_ANY is missing, unreadable ones (EACCES): the walk behind
    the ``*_STAT`` listings, as ``ipcs`` does it."""
    for index in range(max_index + 1):
        try:
            yield stat(index)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EIDRM, errno.EACCES):
                raise


def open_or_create(what: str, create_new: Callable[[], int], open_existing: Callable[[], int],
                   *, create: bool, exclusive: bool) -> tuple[int, bool]:
    """The one open-or-create of the System V family: ``(id, created)``.

    ``create_new`` makes the object with IPC_CREAT|IPC_EXCL, ``open_existing``
    opens it without IPC_CREAT. With ``create``, creating comes first so that
    ``created`` is known; an object that exists is opened (FileExistsError
    with ``exclusive``), and one removed between the two calls is created
    again. Errors name the object as ``what`` (see :func:`errors.naming`).
    """
    with naming(what):
        if not create:
            return open_existing(), False
        while True:
            try:
                return create_new(), True
            except FileExistsError:
                if exclusive:
                    raise
            try:
                return open_existing(), False
            except FileNotFoundError:
                continue  # removed in between: try creating again


@contextlib.contextmanager
def removed_on_failure(created: bool, remove: Callable[[], None]) -> Iterator[None]:
    """Around what a constructor does after open_or_create: if it fails
    (any exception, KeyboardInterrupt included) and the object is ``created``
    by this call, remove it, so a failed constructor leaves nothing behind;
    an object that was only opened is never removed."""
    try:
        yield
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                remove()
        raise


def stat_even_unreadable(obj_id: int, stat: Callable[[int], _S],
                         listing: Callable[[], list[_S]]) -> _S:
    """``stat(obj_id)`` (IPC_STAT, which needs read permission), or, when
    read permission is missing, the same record from ``listing`` (the
    *_STAT_ANY slot walk, which needs none): what opening by id and
    binding to an object need, so a write-only user (or an owner who
    removed their own read bit) gets a handle. PermissionError stays when
    the listing does not have it (a kernel without *_STAT_ANY)."""
    try:
        return stat(obj_id)
    except PermissionError:
        for found in listing():
            if found.id == obj_id:
                return found
        raise
