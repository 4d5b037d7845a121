"""unixipc rm: remove System V objects."""

from __future__ import annotations

import argparse
import errno
import os

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "remove System V objects by id, by key, or all of yours"
DESCRIPTION = """\
Remove message queues (-q), semaphore sets (-s) or shared memory segments
(-m), as ipcrm does. Every id is tried; the exit status is non-zero if any
could not be removed (missing id, permission denied), each failure reported
on one line."""
EPILOG = """\
examples:
  unixipc rm -q 32768 32769          two queues by id
  unixipc rm -m --key 0x41000c02     the segment with this key
  unixipc rm --all-mine --dry-run    what removing all of yours would do"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sysv import add_kind_flags, parse_key

    add_kind_flags(parser, required=False)
    parser.add_argument("ids", nargs="*", type=int, metavar="ID", help="object ids")
    parser.add_argument("--key", type=parse_key, action="append", default=[],
                        help="remove the object with this key (repeatable)")
    parser.add_argument("--all-mine", action="store_true",
                        help="every object of the chosen kinds owned by you")
    parser.add_argument("--dry-run", action="store_true", help="say what would be removed")


def run(args: argparse.Namespace, env: Environment) -> int:
    from ..app import UsageError
    from ..sysv import kinds
    from ...keys import format_key

    if args.all_mine:
        if args.ids or args.key:
            raise UsageError("--all-mine takes no ids or keys")
    elif not args.ids and not args.key:
        raise UsageError("name ids, --key, or --all-mine")
    elif not args.kinds or len(args.kinds) != 1:
        raise UsageError("choose one kind: -q, -s or -m")

    targets: list[tuple[object, str]] = []  # (kind, description)
    failures = 0
    selected = kinds(args.kinds)
    uid = os.getuid()
    for kind in selected:
        if args.all_mine:
            for stat in kind.listing():
                if stat.perm.uid == uid:
                    targets.append((lambda k=kind, i=stat.id: k.from_id(i), f"{kind.noun} {stat.id}"))
            continue
        for ident in args.ids:
            targets.append((lambda k=kind, i=ident: k.from_id(i), f"{kind.noun} {ident}"))
        for key in args.key:
            targets.append((lambda k=kind, key=key: k.from_key(key),
                            f"{kind.noun} with key {format_key(key)}"))
    for opener, what in targets:
        try:
            obj = opener()  # type: ignore[operator]
            if args.dry_run:
                env.out(f"would remove {what}" + ("" if what.endswith(f" {obj.id}")
                                                    else f" (id {obj.id})"))
                continue
            obj.remove()
            env.out(f"removed {what}")
        except OSError as exc:
            failures += 1
            reason = exc.strerror or str(exc)
            if exc.errno in (errno.EINVAL, errno.EIDRM, errno.ENOENT):
                reason = f"it does not exist ({exc.strerror})"
            elif exc.errno in (errno.EPERM, errno.EACCES):
                reason = (f"permission denied: only its owner, its creator or root may "
                          f"remove it ({exc.strerror})")
            env.err(f"unixipc rm: cannot remove {what}: {reason}")
    return ExitStatus.ERROR if failures else ExitStatus.SUCCESS
