"""The System V object kinds as the CLI sees them: how to list, open,
remove and show each, all through the library's public API."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import pwd
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..keys import format_key


@dataclass(frozen=True)
class Kind:
    """One kind of System V object."""

    name: str        # "msg"
    flag: str        # "-q", as ipcs/ipcrm spell it
    title: str       # "Message queues"
    noun: str        # "queue"
    listing: Callable[[], list[Any]]
    from_id: Callable[[int], Any]
    #: Opens by key asking for no access (mode 0): for rm and stat, which
    #: need ownership or the *_STAT_ANY listing, not read or write.
    from_key: Callable[[int], Any]
    #: (header, value of a stat) pairs for the table, after the common ones.
    columns: list[tuple[str, Callable[[Any], Any]]]


def short_time(value: float | int | None) -> str:
    """A time for a table column, as ``ipcs -t`` shows it ("Nov 25 09:10:14"),
    or "-" for never."""
    if not value:
        return "-"
    return time.strftime("%b %d %H:%M:%S", time.localtime(value))


def owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _message_queues() -> Kind:
    from .. import MessageQueue, message_queues

    return Kind(
        name="msg", flag="-q", title="Message queues", noun="queue",
        listing=message_queues, from_id=MessageQueue.from_id,
        from_key=lambda key: MessageQueue(key, mode=0),
        columns=[("messages", lambda s: s.message_count), ("bytes", lambda s: s.current_bytes),
                 ("max-bytes", lambda s: s.max_bytes), ("lspid", lambda s: s.last_send_pid),
                 ("lrpid", lambda s: s.last_receive_pid),
                 ("last-send", lambda s: short_time(s.send_time)),
                 ("last-recv", lambda s: short_time(s.receive_time))],
    )


def _semaphore_sets() -> Kind:
    from .. import SemaphoreSet, semaphore_sets

    def values(stat: Any) -> str:
        found = semaphore_values(stat.id)
        return "?" if found is None else ",".join(str(v) for v in found)  # ?: unreadable

    return Kind(
        name="sem", flag="-s", title="Semaphore sets", noun="semaphore set",
        listing=semaphore_sets, from_id=SemaphoreSet.from_id,
        from_key=lambda key: SemaphoreSet(key, mode=0),
        columns=[("nsems", lambda s: s.count), ("values", values)],
    )


def _shared_memory() -> Kind:
    from .. import SharedMemory, shared_memory_segments

    def status(stat: Any) -> str:
        return " ".join(w for w, on in (("dest", stat.removed), ("locked", stat.locked)) if on)

    return Kind(
        name="shm", flag="-m", title="Shared memory segments", noun="segment",
        listing=shared_memory_segments, from_id=SharedMemory.from_id,
        from_key=lambda key: SharedMemory(key, mode=0),
        columns=[("bytes", lambda s: s.size), ("nattch", lambda s: s.attach_count),
                 ("cpid", lambda s: s.creator_pid), ("lpid", lambda s: s.last_pid),
                 ("status", status)],
    )


#: Every kind, in ipcs's order; each entry builds its Kind on first use.
KIND_FACTORIES: dict[str, Callable[[], Kind]] = {
    "msg": _message_queues,
    "shm": _shared_memory,
    "sem": _semaphore_sets,
}


def kinds(selected: list[str] | None = None) -> list[Kind]:
    """The chosen kinds (all when none), once each, in ipcs's order."""
    names = [n for n in KIND_FACTORIES if not selected or n in selected]
    return [KIND_FACTORIES[n]() for n in names]


def add_kind_flags(parser: argparse.ArgumentParser, *, required: bool,
                   combinable: bool = False) -> None:
    """-q/-s/-m as in ipcs and ipcrm; stored in args.kinds. ``combinable``:
    several may be given (as ``ipcs -q -m``), else at most one."""
    group: argparse._ArgumentGroup | argparse._MutuallyExclusiveGroup = (
        parser.add_argument_group("kinds (combinable)") if combinable
        else parser.add_mutually_exclusive_group(required=required))
    labels = {"msg": ("-q", "--queues", "message queues"),
              "sem": ("-s", "--semaphores", "semaphore sets"),
              "shm": ("-m", "--shm", "shared memory segments")}
    for name in KIND_FACTORIES:
        short, long, what = labels[name]
        group.add_argument(short, long, dest="kinds", action="append_const", const=name,
                           help=what)


def common_row(stat: Any) -> list[Any]:
    return [format_key(stat.perm.key), stat.id, owner_name(stat.perm.uid),
            f"{stat.perm.mode:o}"]


COMMON_HEADERS = ["key", "id", "owner", "perms"]


def parse_key(text: str) -> int:
    """A key as ipcs shows it (0x...) or in decimal. Key 0 (IPC_PRIVATE) is
    refused: opening it always makes a new private object, never finds one."""
    try:
        key = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a key: {text!r} (use 0x... or a decimal)")
    if key == 0:
        raise argparse.ArgumentTypeError("key 0 is IPC_PRIVATE: private objects cannot be "
                                         "found by key, name the id")
    return key


class NotFoundError(OSError):
    """No object has this id or key: one wording for every command
    ("queue 5 not found (msgctl(IPC_STAT): Invalid argument)"), as ipcs
    says "id 5 not found"."""

    def __str__(self) -> str:
        return str(self.strerror)


#: The errnos that mean "no such object" when opening by id or key.
_MISSING = (errno.EINVAL, errno.EIDRM, errno.ENOENT)


def not_found(what: str, exc: OSError) -> NotFoundError:
    return NotFoundError(exc.errno, f"{what} not found ({exc.strerror or exc})")


def open_by_id(kind: Kind, ident: int) -> Any:
    """``kind.from_id(ident)``; a missing id raises :class:`NotFoundError`."""
    try:
        return kind.from_id(ident)
    except OSError as exc:
        if exc.errno in _MISSING:
            raise not_found(f"{kind.noun} {ident}", exc) from None
        raise


def open_by_key(kind: Kind, key: int, opener: Callable[[int], Any] | None = None) -> Any:
    """``kind.from_key(key)`` (or ``opener(key)``), never creating; a
    missing key raises :class:`NotFoundError`."""
    try:
        return (opener or kind.from_key)(key)
    except OSError as exc:
        if exc.errno in _MISSING:
            raise not_found(f"{kind.noun} with key {format_key(key)}", exc) from None
        raise


def stat_of(kind: Kind, obj: Any) -> Any:
    """The object's stat record: IPC_STAT, or where that is refused (no
    read permission) the same record from the *_STAT_ANY listing, as
    ``ipcs -i`` shows it."""
    try:
        return obj.stat()
    except PermissionError:
        for found in kind.listing():
            if found.id == obj.id:
                return found
        raise


def kind_named(name: str) -> Kind:
    return KIND_FACTORIES[name]()


def record(kind: Kind, stat: Any) -> dict[str, Any]:
    """The one JSON shape of an object of ``kind``, shared by ``ls`` and
    ``stat`` (docs/cli.md, "JSON"): integers as integers (``key_hex`` and
    ``perms`` add ipcs's spellings), owner and creator names, times as ISO
    8601 (null: never), and a semaphore set's values (null when unreadable)."""
    from .output import iso_time

    perm = stat.perm
    out: dict[str, Any] = {
        "kind": kind.name, "id": stat.id, "key": perm.key, "key_hex": format_key(perm.key),
        "owner": owner_name(perm.uid), "uid": perm.uid, "gid": perm.gid,
        "creator": owner_name(perm.cuid), "cuid": perm.cuid, "cgid": perm.cgid,
        "mode": perm.mode, "perms": f"{perm.mode:o}", "seq": perm.seq,
    }
    for f in dataclasses.fields(stat):
        if f.name in ("id", "perm"):
            continue
        value = getattr(stat, f.name)
        out[f.name] = iso_time(value) if f.name.endswith("_time") else value
    if kind.name == "sem":
        out["values"] = semaphore_values(stat.id)
    return out


def semaphore_values(ident: int) -> list[int] | None:
    """A set's values (GETALL), or None without read permission."""
    from .. import SemaphoreSet

    try:
        return list(SemaphoreSet.from_id(ident).values)
    except OSError:
        return None
