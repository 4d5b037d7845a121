"""unixipc sem get|set|op: read and operate a semaphore set."""

from __future__ import annotations

import argparse

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "read, set or operate on a System V semaphore set"
DESCRIPTION = """\
get: print every value (GETALL) with waiters (ncount, zcount) and last pid.
set: set values (SETALL with one value per semaphore, or INDEX=VALUE pairs).
op:  apply operations INDEX:DELTA in ONE atomic semop (all or nothing);
     a delta of 0 waits for zero."""
EPILOG = """\
examples:
  unixipc sem get 3
  unixipc sem set 3 1 0 2            SETALL
  unixipc sem set 3 1=5              SETVAL of semaphore 1
  unixipc sem op 3 0:-1 1:-1 --timeout 2
  unixipc sem op 3 0:-1 --undo      waits until sem 0 could be taken; undone at exit"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    raw = argparse.RawDescriptionHelpFormatter
    get = sub.add_parser("get", help="print the values", formatter_class=raw,
                         description="Print each semaphore's value (GETALL), the processes "
                                     "waiting for an increase (ncount) or for zero (zcount) "
                                     "and the last pid to operate on it.",
                         epilog="examples:\n  unixipc sem get 3\n  unixipc sem get 3 --json")
    get.add_argument("id", type=int)
    get.add_argument("--json", action="store_true", help="print JSON")
    set_ = sub.add_parser("set", help="set values", formatter_class=raw,
                          description="Set every value (SETALL: one value per semaphore) or "
                                      "some (INDEX=VALUE pairs, SETVAL).",
                          epilog="examples:\n  unixipc sem set 3 1 0 2      SETALL\n"
                                 "  unixipc sem set 3 1=5        SETVAL of semaphore 1")
    set_.add_argument("id", type=int)
    set_.add_argument("words", nargs="+", metavar="VALUE|INDEX=VALUE")
    op = sub.add_parser("op", help="one atomic semop", formatter_class=raw,
                        description="Apply INDEX:DELTA operations in one semop: all at once "
                                    "or none; a negative delta waits until it can subtract, "
                                    "0 waits for zero.",
                        epilog="examples:\n  unixipc sem op 3 0:-1 1:-1 --timeout 2\n"
                               "  unixipc sem op 3 0:-1 --undo    waits, then undone at exit\n"
                               "  unixipc sem op 3 2:0 --no-wait    fails unless sem 2 is 0")
    op.add_argument("id", type=int)
    op.add_argument("words", nargs="+", metavar="INDEX:DELTA")
    op.add_argument("--timeout", type=float, help="give up after this many seconds")
    op.add_argument("--no-wait", action="store_true", help="fail at once instead of waiting")
    op.add_argument("--undo", action="store_true",
                    help="SEM_UNDO: the kernel reverts the operation when this process "
                         "exits, which is at once: with --undo the op only waits (or "
                         "checks, with --no-wait) until it could be applied, and leaves "
                         "the values as they were")


def run(args: argparse.Namespace, env: Environment) -> int:
    from ..app import UsageError
    from ..output import print_json, print_table
    from ..sysv import kind_named, open_by_id

    sems = open_by_id(kind_named("sem"), args.id)
    if args.action == "get":
        rows = [[i, s.value, s.ncount, s.zcount, s.last_pid]
                for i, s in ((i, sems[i]) for i in range(len(sems)))]
        if args.json:
            print_json(env, [dict(zip(("index", "value", "ncount", "zcount", "last_pid"), r))
                             for r in rows])
        else:
            print_table(env, ["index", "value", "ncount", "zcount", "last-pid"], rows)
        return ExitStatus.SUCCESS
    if args.action == "set":
        try:
            if all("=" in w for w in args.words):
                for word in args.words:
                    index, value = (int(x) for x in word.split("=", 1))
                    if not 0 <= index < len(sems):
                        raise UsageError(f"no semaphore {index} in a set of {len(sems)}")
                    sems[index].value = value
            else:
                sems.values = [int(w) for w in args.words]
        except ValueError as exc:
            if isinstance(exc, UsageError):
                raise
            raise UsageError(f"bad values {' '.join(args.words)!r}: {exc}") from None
        return ExitStatus.SUCCESS
    ops = []
    for word in args.words:
        try:
            index, delta = word.split(":", 1)
            ops.append((int(index), int(delta)))
        except ValueError:
            raise UsageError(f"an operation is INDEX:DELTA, not {word!r}") from None
    sems.op(*ops, block=not args.no_wait, undo=args.undo, timeout=args.timeout)
    return ExitStatus.SUCCESS
