"""unixipc ls: every System V object on the system."""

from __future__ import annotations

import argparse
import os

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "list System V message queues, semaphore sets and shared memory segments"
DESCRIPTION = """\
List your System V objects in this IPC namespace (--all-users: everyone's,
as ipcs does): key (hex), id, owner, permissions and the useful columns of
each kind (queues: messages, bytes, max bytes, last send/receive pids and
times; semaphore sets: count and values; segments: size, attached
processes, creator pid). A table on a terminal; --json for scripts (each
object's JSON record, the same as 'stat --json' gives: every stat field,
owner names, semaphore values, times in ISO 8601). -q, -s and -m combine,
as in ipcs."""
EPILOG = """\
examples:
  $ unixipc ls -q --all-users
  Message queues
  key         id  owner  perms  messages  bytes  max-bytes  lspid  lrpid  last-send        last-recv
  0x00000000   0  root   600           1      3      16384   4242      0  Nov 25 09:11:29  -
  $ unixipc ls -m                   your shared memory segments
  $ unixipc ls --json | jq '.msg[].id'"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sysv import add_kind_flags

    add_kind_flags(parser, required=False, combinable=True)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--all-users", action="store_true",
                        help="every user's objects, as ipcs shows them (default: yours)")


def run(args: argparse.Namespace, env: Environment) -> int:
    from ..output import print_json, print_table
    from ..sysv import COMMON_HEADERS, common_row, kinds, record

    uid = os.getuid()
    listings = []
    for kind in kinds(args.kinds):
        stats = sorted(kind.listing(), key=lambda s: s.id)
        if not args.all_users:
            stats = [s for s in stats if s.perm.uid == uid]
        listings.append((kind, stats))
    if args.json:
        print_json(env, {kind.name: [record(kind, s) for s in stats] for kind, stats in listings})
        return ExitStatus.SUCCESS
    for number, (kind, stats) in enumerate(listings):
        if number:
            env.out()
        headers = COMMON_HEADERS + [h for h, _ in kind.columns]
        rows = [common_row(s) + [get(s) for _, get in kind.columns] for s in stats]
        print_table(env, headers, rows, title=kind.title)
        if not rows:
            env.out(f"(no {kind.noun}s)")
    return ExitStatus.SUCCESS
