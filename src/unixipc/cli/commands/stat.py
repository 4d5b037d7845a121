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
when readable."""
EPILOG = """\
examples:
  unixipc stat -q 32768
  unixipc stat -s --key 0x41000c02
  unixipc stat -m 5 --json
  unixipc stat -q 32768 --watch 1     the queue's depth, live"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sysv import add_kind_flags

    add_kind_flags(parser, required=True)
    from ..sysv import parse_key

    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("id", type=int, nargs="?", help="the object's id")
    target.add_argument("--key", type=parse_key, help="the object's key (0x... or decimal)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    from .ls import add_watch_arguments

    add_watch_arguments(parser)


def run(args: argparse.Namespace, env: Environment) -> int:
    from ..output import human_time, print_json
    from ..sysv import (kinds, open_by_id, open_by_key, owner_name, record, semaphore_values,
                        stat_of)
    from ...keys import format_key

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
