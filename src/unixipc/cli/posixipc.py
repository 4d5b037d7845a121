"""The POSIX object kinds as the CLI sees them (message queues, named
semaphores, shared memory segments): listing, finding by name, the one JSON
record of each kind, and removing, for ``ls``/``stat``/``rm --posix``."""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

from .sysv import NotFoundError, owner_name

#: The kinds, in the order ``ls --posix`` shows them (``--kind`` values).
KINDS = ("mq", "sem", "shm")
NOUNS = {"mq": "POSIX message queue", "sem": "POSIX semaphore",
         "shm": "POSIX shared memory segment"}
TITLES = {"mq": "POSIX message queues", "sem": "POSIX semaphores",
          "shm": "POSIX shared memory segments"}
#: (header, record field) of each kind's table, after name/owner/perms.
COLUMNS = {"mq": [("messages", "messages"), ("bytes", "size")],
           "sem": [("value", "value")],
           "shm": [("bytes", "size")]}
COMMON_HEADERS = ["name", "owner", "perms"]


def check_name(name: str) -> str:
    """One leading slash and no other (ValueError saying why: exit 2)."""
    from ..posix import check_name as check

    return check(name, "object", 255)


def id_or_name(text: str) -> int | str:
    """A positional target: a System V id (an integer) or a POSIX /name
    (argparse type: anything else is a usage error)."""
    import argparse

    if text.startswith("/"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an id or a /name: {text!r}") from None


def _record(kind: str, name: str, uid: int | None, gid: int | None, mode: int | None,
            **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "family": "posix", "kind": kind, "name": name,
        "owner": None if uid is None else owner_name(uid), "uid": uid, "gid": gid,
        "mode": mode, "perms": None if mode is None else f"{mode:o}"}
    out.update(extra)
    return out


#: sizeof(sem_t) on Linux (64-bit: 32 bytes; 32-bit: 16).
_SEM_T_SIZE = 32 if sys.maxsize > 2**32 else 16


def semaphore_value(name: str) -> int | None:
    """The semaphore's value, or None when this process may not open it,
    or when its file is too short to hold a semaphore: sem_open maps such
    a file without complaint and reading it raises SIGBUS, so anyone who
    can write a short ``sem.*`` file in /dev/shm could otherwise make
    ``ls --posix`` crash."""
    from .. import posix

    try:
        if os.stat(f"/dev/shm/sem.{name[1:]}", follow_symlinks=False).st_size < _SEM_T_SIZE:
            return None
    except OSError:
        return None
    try:
        sem = posix.Semaphore(name)
    except OSError:
        return None
    try:
        return sem.value
    finally:
        sem.close()


def listing(kind: str) -> list[dict[str, Any]]:
    """The records of every object of ``kind``, sorted by name. For "mq",
    FileNotFoundError when no mqueue filesystem is mounted (Linux lists
    queues only through one)."""
    from .. import posix

    if kind == "mq":
        return [_record("mq", e.name, e.uid, e.gid, e.mode, size=e.size,
                        messages=e.current_messages) for e in posix.message_queues()]
    if kind == "sem":
        return [_record("sem", e.name, e.uid, e.gid, e.mode, value=semaphore_value(e.name))
                for e in posix.semaphores()]
    return [_record("shm", e.name, e.uid, e.gid, e.mode, size=e.size)
            for e in posix.shared_memory_segments()]


def _probe_queue(name: str) -> dict[str, Any] | None:
    """Without an mqueue mount: whether the queue exists, by opening it
    read-only (its owner and mode from the descriptor when that works;
    unknown, None, when permission is refused)."""
    from .. import posix

    try:
        mq = posix.MessageQueue(name, read=True, write=False)
    except FileNotFoundError:
        return None
    except PermissionError:
        return _record("mq", name, None, None, None, size=None, messages=None)
    try:
        st = os.fstat(mq.fileno())
        return _record("mq", name, st.st_uid, st.st_gid, st.st_mode & 0o7777, size=None,
                       messages=mq.attributes().current_messages)
    finally:
        mq.close()


def find(name: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The records of the objects named ``name`` (of ``kind``, or of any
    kind), in KINDS order."""
    check_name(name)
    found = []
    for k in KINDS if kind is None else (kind,):
        if k == "mq":
            try:
                found += [r for r in listing("mq") if r["name"] == name]
            except FileNotFoundError:  # no mqueue mount: ask mq_open
                probed = _probe_queue(name)
                if probed is not None:
                    found.append(probed)
        else:
            found += [r for r in listing(k) if r["name"] == name]
    return found


def find_one(name: str, kind: str | None = None) -> dict[str, Any]:
    """The one object named ``name``: NotFoundError (exit 1) when there is
    none, AmbiguousName when several kinds have it and ``kind`` is None."""
    found = find(name, kind)
    if not found:
        what = (NOUNS[kind] if kind else "POSIX object")
        why = ("No such file or directory" if kind else
               "no message queue, semaphore or shared memory segment has this name")
        raise NotFoundError(errno.ENOENT, f"{what} {name} not found ({why})")
    if len(found) > 1:
        raise AmbiguousName(name, [r["kind"] for r in found])
    return found[0]


class AmbiguousName(Exception):
    """Objects of several kinds have this name: --kind must choose."""

    def __init__(self, name: str, kinds: list[str]) -> None:
        nouns = " and a ".join(NOUNS[k] for k in kinds)
        choices = " or ".join(f"--kind {k}" for k in kinds)
        super().__init__(f"{name} names a {nouns}: choose one with {choices}")


def unlink(kind: str, name: str) -> None:
    """Remove the name (mq_unlink, sem_unlink, shm_unlink). Only the right
    to remove the name is needed (its owner, or root: /dev/shm and the
    mqueue filesystem are sticky directories), not read or write access to
    the object, so it does not open the object first."""
    from .. import _core
    from ..errors import naming

    call = {"mq": _core.pmq_unlink, "sem": _core.psem_unlink, "shm": _core.pshm_unlink}[kind]
    with naming(name):
        call(name)


def not_found(kind: str, name: str, exc: OSError) -> NotFoundError:
    return NotFoundError(exc.errno, f"{NOUNS[kind]} {name} not found "
                                    f"({exc.strerror or exc})")
