"""unixipc ftok PATH ID"""

from __future__ import annotations

import argparse

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "print the System V key ftok(3) gives for a file and a project id"
DESCRIPTION = """\
Print the key that C's ftok(PATH, ID) returns, in the form ipcs shows keys
(0x and eight hex digits). Programs that agree on a file and an id find the
same queue, semaphore set or segment through this key."""
EPILOG = """\
examples:
  $ unixipc ftok /etc/passwd 65
  0x41000c02
  $ unixipc ftok --decimal /etc/passwd 65
  1090522114
  $ unixipc ftok --json /etc/passwd 65
  {"path": "/etc/passwd", "project_id": 65, "key": 1090522114, "key_hex": "0x41000c02"}"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="an existing file")
    parser.add_argument("id", type=int, help="project id, 1..255")
    parser.add_argument("--decimal", action="store_true",
                        help="print the signed decimal value C's key_t holds")
    parser.add_argument("--json", action="store_true",
                        help="print path, project_id, key (an integer) and key_hex")


def run(args: argparse.Namespace, env: Environment) -> int:
    from ... import ftok
    from ...keys import format_key

    key = ftok(args.path, args.id)
    if args.json:
        import json

        env.out(json.dumps({"path": str(args.path), "project_id": args.id, "key": key,
                            "key_hex": format_key(key)}))
        return ExitStatus.SUCCESS
    env.out(str(key) if args.decimal else format_key(key))
    return ExitStatus.SUCCESS
