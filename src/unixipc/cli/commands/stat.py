"""unixipc stat: every field of one object's stat structure."""

from __future__ import annotations

import argparse
import dataclasses

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "show every field of one System V object's stat structure"
DESCRIPTION = """\
Show every field the kernel keeps for one queue (-q), semaphore set (-s) or
segment (-m): IPC_STAT, with times in local time (--json: ISO 8601 UTC)."""
EPILOG = """\
examples:
  unixipc stat -q 32768
  unixipc stat -m 5 --json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sysv import add_kind_flags

    add_kind_flags(parser, required=True)
    parser.add_argument("id", type=int, help="the object's id")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace, env: Environment) -> int:
    from ..output import human_time, print_json
    from ..sysv import kinds, owner_name
    from ...keys import format_key

    (kind,) = kinds(args.kinds[:1])
    stat = kind.from_id(args.id).stat()
    if args.json:
        print_json(env, stat)
        return ExitStatus.SUCCESS
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
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        env.out(f"{name:>{width}}  {value}")
    return ExitStatus.SUCCESS
