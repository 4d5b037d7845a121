"""System V shared memory.

A segment is memory that several processes map at once: what one writes,
the others see, with no copy through the kernel. :meth:`SharedMemory.attach`
returns a ``memoryview`` over the segment (zero copy; ``numpy.frombuffer``
works on it). The segment cannot be detached while such views exist
(BufferError), so no view can ever point at unmapped memory.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from types import TracebackType

from . import _core
from ._sysv import Kernel, SysVObject, check_int, creates
from .keys import Permissions, each_slot, normalize_key

__all__ = ["SharedMemory", "SharedMemoryStat", "SharedMemoryLimits", "shared_memory_segments",
           "shared_memory_limits", "SharedMemoryUsage", "shared_memory_usage"]


@dataclass(frozen=True, slots=True)
class SharedMemoryStat:
    """Everything ``shmctl(IPC_STAT)`` reports about a segment.

    Attributes:
        id: the segment's identifier (shmid).
        perm: owner, creator, mode, key, seq.
        size: bytes (shm_segsz).
        attach_time, detach_time, change_time: seconds since the epoch of the
            last shmat, shmdt and change (0: never).
        creator_pid: the process that created it (shm_cpid).
        last_pid: the last process to attach or detach (shm_lpid).
        attach_count: attachments now (shm_nattch).
        removed: IPC_RMID was done; the segment lives until the last detach.
        locked: SHM_LOCK is in force (the pages are not swapped).
    """

    id: int
    perm: Permissions
    size: int
    attach_time: int
    detach_time: int
    change_time: int
    creator_pid: int
    last_pid: int
    attach_count: int
    removed: bool
    locked: bool

    @classmethod
    def _from_raw(cls, raw: dict[str, int]) -> SharedMemoryStat:
        perm = Permissions(key=raw["key"], uid=raw["uid"], gid=raw["gid"], cuid=raw["cuid"],
                           cgid=raw["cgid"], mode=raw["mode"], seq=raw["seq"])
        return cls(id=raw["id"], perm=perm, size=raw["size"], attach_time=raw["attach_time"],
                   detach_time=raw["detach_time"], change_time=raw["change_time"],
                   creator_pid=raw["creator_pid"], last_pid=raw["last_pid"],
                   attach_count=raw["attach_count"], removed=bool(raw["removed"]),
                   locked=bool(raw["locked"]))


@dataclass(frozen=True, slots=True)
class SharedMemoryLimits:
    """System-wide limits (``shmctl(IPC_INFO)``): shmmax the largest
    segment, shmmin the smallest, shmmni segments, shmall total pages."""

    max_size: int
    min_size: int
    max_segments: int
    max_total_pages: int


def shared_memory_limits() -> SharedMemoryLimits:
    """The system's limits (/proc/sys/kernel/shmmax, shmmni, shmall)."""
    info = _core.shm_info(_core.IPC_INFO)
    return SharedMemoryLimits(max_size=info["shmmax"], min_size=info["shmmin"],
                              max_segments=info["shmmni"], max_total_pages=info["shmall"])


@dataclass(frozen=True, slots=True)
class SharedMemoryUsage:
    """What the segments of this IPC namespace use now
    (``shmctl(SHM_INFO)``, what ``ipcs -u`` shows).

    Attributes:
        segments: segments that exist (used_ids), removed ones still
            attached included.
        pages: pages of all segments together (shm_tot: each segment's size
            rounded up to whole pages), the figure the kernel holds against
            ``shared_memory_limits().max_total_pages`` (shmall).
        resident_pages: of these, pages in memory now (shm_rss; a page is
            resident once something touched it).
        swapped_pages: of these, pages on swap now (shm_swp).
        swap_attempts, swap_successes: always 0 on Linux since 2.4 (the
            kernel keeps the fields and fills nothing in).
    """

    segments: int
    pages: int
    resident_pages: int
    swapped_pages: int
    swap_attempts: int
    swap_successes: int


def shared_memory_usage() -> SharedMemoryUsage:
    """Segments and pages in use in this IPC namespace (``shmctl(SHM_INFO)``).

    Pages are of ``os.sysconf("SC_PAGESIZE")`` bytes. Compare ``pages`` with
    ``shared_memory_limits().max_total_pages`` and ``segments`` with
    ``max_segments`` to see how close a ``shmget`` is to ENOSPC.
    """
    info = _core.shm_info(_core.SHM_INFO)
    return SharedMemoryUsage(segments=info["used_ids"], pages=info["shm_tot"],
                             resident_pages=info["shm_rss"], swapped_pages=info["shm_swp"],
                             swap_attempts=info["swap_attempts"],
                             swap_successes=info["swap_successes"])


def shared_memory_segments() -> list[SharedMemoryStat]:
    """The stat of every segment in this IPC namespace (``ipcs -m``)."""
    max_index = _core.shm_info(_core.SHM_INFO)["max_index"]
    return [SharedMemoryStat._from_raw(raw) for raw in each_slot(max_index, _core.shm_stat)]


def _open_existing(key: int, size: int, mode: int) -> int:
    """shmget of an existing segment; a ``size`` larger than the segment
    keeps the kernel's EINVAL, and its message says both sizes."""
    try:
        return _core.shmget(key, size, mode)
    except OSError as exc:
        if exc.errno != errno.EINVAL or size == 0:
            raise
        shmid = _core.shmget(key, 0, mode)
        actual = SharedMemory._stat_any(shmid).size
        if actual >= size:
            raise
        raise type(exc)(exc.errno, f"{exc.strerror}: the existing segment {shmid} has "
                                   f"{actual} bytes, fewer than size={size}") from None


class SharedMemory(SysVObject[SharedMemoryStat]):
    """A System V shared memory segment.

    Args:
        key: the segment's key; None always makes a new private segment
            (IPC_PRIVATE).
        size: bytes of a new segment (> 0 when creating); an existing
            segment must be at least this large (EINVAL otherwise).
        create, exclusive: IPC_CREAT, IPC_EXCL (``exclusive`` implies
            ``create``).
        mode: permission bits of a new segment (``0o600`` unless asked);
            when opening an existing one, the access asked for.

    A new segment is zero-filled. Every :meth:`attach` maps the segment
    anew (shmat allows any number of mappings, each read-only or not), and
    the mappings stay until :meth:`detach`. ``read``/``write`` use an
    internal mapping of their own (read-only for ``read`` until a ``write``
    needs a read-write one), made on first use and also kept until
    :meth:`detach`; they never constrain what ``attach`` may return.

    Opening, ``from_id``, ``created``/``removed``, ``remove``, ``set``,
    pickling (as a reference) and the context manager follow the rules of
    the whole System V family (see :mod:`unixipc._sysv`); leaving a
    ``with`` block also detaches the mappings that have no views.
    """

    _kernel = Kernel("shared memory segment", "shmid", "shmctl",
                     stat=lambda i: SharedMemoryStat._from_raw(_core.shmctl_stat(i)),
                     listing=shared_memory_segments, rmid=_core.shmctl_rmid,
                     set=_core.shmctl_set, key_noun="shared memory")

    def __init__(self, key: int | None = None, size: int = 0, *, create: bool = False,
                 exclusive: bool = False, mode: int = 0o600) -> None:
        check_int(size, "size", 0)
        if size == 0 and creates(normalize_key(key), create, exclusive):
            raise ValueError("a new segment needs a size > 0")
        with self._opening(key, create=create, exclusive=exclusive, mode=mode,
                           new=lambda k, flags: _core.shmget(k, size, flags),
                           existing=lambda k, m: _open_existing(k, size, m)
                           ) as (shmid, created):
            # What we created we know: no IPC_STAT, which a mode without the
            # owner's read bit (0o200) would refuse.
            self._bind_segment(shmid, size if created else self._stat_any(shmid).size)

    def _bind_segment(self, shmid: int, size: int) -> None:
        self._shmid = shmid
        self._size = size
        #: Every mapping attach() made, and the one read()/write() use.
        self._attachments: list[_core.Attachment] = []
        self._internal: _core.Attachment | None = None

    def _adopt(self, obj_id: int, found: SharedMemoryStat) -> None:
        self._bind_segment(obj_id, found.size)

    def _repr_extra(self) -> str:
        return f" size={self._size}"

    @property
    def id(self) -> int:
        """The segment's identifier (shmid)."""
        return self._shmid

    @property
    def size(self) -> int:
        """The segment's size in bytes (the kernel's, not rounded to pages)."""
        return self._size

    def attach(self, *, readonly: bool = False) -> memoryview:
        """``shmat``: map the segment and return a memoryview over it.

        The view is the segment itself (writes are seen by every process at
        once). With ``readonly=True`` (SHM_RDONLY) the view is read-only:
        writing raises TypeError. Each call makes a mapping of its own, so
        read-only and read-write views can coexist; each stays mapped until
        :meth:`detach` (not when its view is released).

        Raises:
            PermissionError: the mode does not allow this access.
        """
        att = _core.shmat(self.id, bool(readonly))
        self._attachments = [a for a in self._attachments if a.attached]
        self._attachments.append(att)
        return memoryview(att)

    def detach(self) -> None:
        """``shmdt`` of every mapping this object made (``attach``'s and the
        internal one of ``read``/``write``). A mapping whose views still
        exist stays attached: BufferError, after detaching the others
        (release the views, e.g. ``view.release()``, or drop them)."""
        busy = self._detach_idle()
        if busy:
            raise BufferError(f"cannot detach {busy} mapping(s) of segment {self.id}: "
                              "views of them still exist (release them first, e.g. "
                              "view.release())")

    def _detach_idle(self) -> int:
        """Detach every mapping without views; return how many have views."""
        kept = [a for a in self._attachments + [self._internal] if a is not None and a.attached]
        for att in kept:
            if att.exports == 0:
                att.detach()
        self._attachments = [a for a in self._attachments if a.attached]
        if self._internal is not None and not self._internal.attached:
            self._internal = None
        return sum(1 for a in kept if a.attached)

    @property
    def attached(self) -> bool:
        """Whether any mapping this object made is still attached."""
        return any(a.attached for a in self._attachments + [self._internal] if a is not None)

    def _mapping(self, writable: bool) -> _core.Attachment:
        """The internal mapping of read()/write(): read-only until a write
        needs a read-write one (which then serves reads too). It is never
        exported beyond the call, so it can always be replaced."""
        att = self._internal
        if att is None or not att.attached or (writable and att.readonly):
            new = _core.shmat(self.id, not writable)
            if att is not None and att.exports == 0:
                att.detach()  # else a read in another thread still uses it: its
                              # last reference going detaches it
            att = self._internal = new
        return att

    def _span(self, offset: int, size: int | None) -> tuple[int, int]:
        check_int(offset, "offset", 0)
        if offset > self._size:
            raise ValueError(f"offset {offset} is past the end of the {self._size}-byte segment")
        if size is None:
            size = self._size - offset
        check_int(size, "size", 0)
        if offset + size > self._size:
            raise ValueError(f"{size} bytes at offset {offset} overrun the "
                             f"{self._size}-byte segment")
        return offset, size

    def read(self, size: int | None = None, offset: int = 0) -> bytes:
        """Copy ``size`` bytes (default: to the end) from ``offset``."""
        offset, size = self._span(offset, size)
        with memoryview(self._mapping(writable=False)) as view:
            return bytes(view[offset:offset + size])

    def write(self, data: bytes | bytearray | memoryview, offset: int = 0) -> int:
        """Copy ``data`` into the segment at ``offset``; returns its length.
        ValueError (nothing written) if it would overrun the segment."""
        if isinstance(data, str):
            raise TypeError("data must be bytes-like, not str")
        with memoryview(data) as src:
            n = src.nbytes
            offset, _ = self._span(offset, n)
            with memoryview(self._mapping(writable=True)) as view:
                view[offset:offset + n] = src.cast("B")
        return n

    def lock(self) -> None:
        """``SHM_LOCK``: keep the pages in memory (needs privilege or
        RLIMIT_MEMLOCK room)."""
        _core.shmctl_lock(self.id, True)

    def unlock(self) -> None:
        """``SHM_UNLOCK``."""
        _core.shmctl_lock(self.id, False)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
        finally:
            self._detach_idle()  # mappings with live views stay
