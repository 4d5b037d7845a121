"""unixipc stat: every field of one object's stat structure."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "show every field of one System V object's stat structure"
DESCRIPTION = """\
Show every field the kernel keeps for one queue (-q), semaphore set (-s) or
segment (-m), by id or by --key: IPC_STAT, or without read permission the
same record through MSG_STAT_ANY/SEM_STAT_ANY/SHM_STAT_ANY (as ipcs -i
shows it); times in local time (--json: the object's JSON record, shared
with ls, times in ISO 8601 UTC). A semaphore set's values are shown too
when readable. --posix NAME shows a POSIX object instead (its kind is the
one that has the name; --kind mq|sem|shm when several have it): owner,
mode, and a queue's messages and bytes, a semaphore's value or a
segment's size."""
EPILOG = """\
examples:
  unixipc stat -q 32768
  unixipc stat -s --key 0x41000c02
  unixipc stat -m 5 --json
  unixipc stat -q 32768 --watch 1     the queue's depth, live
  unixipc stat --posix /jobs          a POSIX queue, semaphore or segment
  unixipc stat /jobs                  the same"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sysv import add_kind_flags

    add_kind_flags(parser, required=False)
    from ..posixipc import KINDS
    from ..sysv import parse_key

    target = parser.add_mutually_exclusive_group(required=True)
    from ..posixipc import id_or_name

    target.add_argument("id", type=id_or_name, nargs="?", metavar="ID|/NAME",
                        help="the object's id, or a POSIX object's /name (as --posix NAME)")
    target.add_argument("--key", type=parse_key, help="the object's key (0x... or decimal)")
    target.add_argument("--posix", metavar="NAME",
                        help="a POSIX message queue, named semaphore or shared memory "
                             "segment instead, by name (/jobs)")
    parser.add_argument("--kind", choices=KINDS,
                        help="with --posix: the kind, when several have the name")
    parser.add_argument("--json", action="store_true", help="print JSON")
    from .ls import add_watch_arguments

    add_watch_arguments(parser)


def run(args: argparse.Namespace, env: Environment) -> int:
    from ..output import human_time, print_json
    from ..sysv import (kinds, open_by_id, open_by_key, owner_name, record, semaphore_values,
                        stat_of)
    from ...keys import format_key

    from ..app import UsageError

    if isinstance(args.id, str):  # a /name: as --posix NAME
        args.posix, args.id = args.id, None
    if args.posix is not None:
        return _posix(args, env)
    if args.kind:
        raise UsageError("--kind goes with --posix NAME (System V: -q, -s or -m)")
    if not args.kinds:
        raise UsageError("one of the arguments -q/--queues -s/--semaphores -m/--shm "
                         "(or --posix NAME) is required")
    (kind,) = kinds(args.kinds[:1])
    obj = open_by_id(kind, args.id) if args.key is None else open_by_key(kind, args.key)
    if args.watch is not None:
        from .ls import live_record, watch

        return watch(args, env, lambda: _show(env, kind, stat_of(kind, obj)),
                     lambda: live_record(kind, stat_of(kind, obj)))
    stat = stat_of(kind, obj)
    if args.json:
        print_json(env, record(kind, stat))
        return ExitStatus.SUCCESS
    _show(env, kind, stat)
    return ExitStatus.SUCCESS


def _show(env: Environment, kind: Any, stat: Any) -> None:
    from ..output import human_time
    from ..sysv import owner_name, semaphore_values
    from ...keys import format_key

    perm = stat.perm
    lines = [("kind", kind.title), ("id", stat.id), ("key", format_key(perm.key)),
             ("owner", f"{owner_name(perm.uid)} (uid {perm.uid}, gid {perm.gid})"),
             ("creator", f"{owner_name(perm.cuid)} (uid {perm.cuid}, gid {perm.cgid})"),
             ("mode", f"{perm.mode:o}"), ("seq", perm.seq)]
    for field in dataclasses.fields(stat):
        if field.name in ("id", "perm"):
            continue
        value = getattr(stat, field.name)
        if field.name.endswith("_time"):
            value = human_time(value)
        lines.append((field.name.replace("_", " "), value))
    if kind.name == "sem":
        values = semaphore_values(stat.id)
        lines.append(("values", "? (not readable)" if values is None
                      else " ".join(str(v) for v in values)))
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        env.out(f"{name:>{width}}  {value}")


def _posix(args: argparse.Namespace, env: Environment) -> int:
    from ..app import UsageError
    from ..output import print_json
    from ..posixipc import COLUMNS, NOUNS, AmbiguousName, find_one

    if args.kinds or args.watch is not None:
        raise UsageError("--posix NAME goes with --kind and --json, not -q/-s/-m or --watch")
    try:
        found = find_one(args.posix, args.kind)
    except AmbiguousName as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print_json(env, found)
        return ExitStatus.SUCCESS

    def text(value: Any) -> Any:
        return "? (not readable)" if value is None else value

    owner = ("? (not readable)" if found["uid"] is None else
             f"{found['owner']} (uid {found['uid']}, gid {found['gid']})")
    lines = [("kind", NOUNS[found["kind"]]), ("name", found["name"]), ("owner", owner),
             ("mode", text(found["perms"]))]
    lines += [(header, text(found[field])) for header, field in COLUMNS[found["kind"]]]
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        env.out(f"{name:>{width}}  {value}")
    return ExitStatus.SUCCESS
