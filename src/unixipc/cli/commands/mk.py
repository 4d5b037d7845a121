"""unixipc mk: create System V objects, as ipcmk does."""

from __future__ import annotations

import argparse
import re
from typing import Any

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "create a message queue, a semaphore set or a segment (as ipcmk)"
DESCRIPTION = """\
Create System V objects, as ipcmk does: -Q a message queue, -S N a set of
N semaphores, -M SIZE a shared memory segment (SIZE in bytes, or with a
suffix: K, M, G, T or KiB, MiB, ... for powers of 1024; KB, MB, ... for
powers of 1000), several in one call. -p MODE sets the permissions
(octal, default 0644 as ipcmk). Each is made with a new random key (or
--key KEY, for one object) and never opens an existing object. Prints each
id as ipcmk does (segment, queue, then semaphore set); --json prints each
object's record as ls and stat give it. The only command that creates."""
EPILOG = """\
examples:
  $ unixipc mk -Q
  Message queue id: 0
  $ unixipc mk -M 1MiB -S 2 -p 0600
  Shared memory id: 0
  Semaphore id: 0
  unixipc mk -Q --key 0x1c8aeda0 --json    a queue with this key, as JSON"""

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4,
          "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(I?B?)\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (bytes, or 4K, 1MiB, 2MB ...)")
    unit, tail = m.group(2).upper(), m.group(3).upper()
    if tail == "B" and unit:
        unit += "B"  # KB: powers of 1000
    elif tail == "I":
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    size = int(m.group(1)) * _UNITS[unit]
    if size < 1:
        raise argparse.ArgumentTypeError("a segment needs at least 1 byte")
    return size


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of semaphores: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("a semaphore set needs at least 1 semaphore")
    return n


def _mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an octal mode: {text!r}") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"a mode is 0 to 0777, not {text!r}")
    return mode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..sysv import parse_key

    parser.add_argument("-Q", "--queue", action="store_true", help="create a message queue")
    parser.add_argument("-S", "--semaphore", type=_count, metavar="N",
                        help="create a set of N semaphores")
    parser.add_argument("-M", "--shmem", type=parse_size, metavar="SIZE",
                        help="create a segment of SIZE bytes (suffixes K, M, G, KiB, MB ...)")
    parser.add_argument("-p", "--mode", type=_mode, default=0o644,
                        help="permissions, octal (default 0644)")
    parser.add_argument("--key", type=parse_key,
                        help="the key (default: a new random one), for one object")
    parser.add_argument("--json", action="store_true", help="print each object's record")


def _create(name: str, key: int | None, args: argparse.Namespace) -> Any:
    from ... import MessageQueue, SemaphoreSet, SharedMemory

    if name == "shm":
        return SharedMemory(key, args.shmem, create=True, exclusive=True, mode=args.mode)
    if name == "msg":
        return MessageQueue(key, create=True, exclusive=True, mode=args.mode)
    return SemaphoreSet(key, args.semaphore, create=True, exclusive=True, mode=args.mode)


def run(args: argparse.Namespace, env: Environment) -> int:
    import json
    import secrets

    from ..app import UsageError
    from ..sysv import kind_named, record, stat_of

    # ipcmk's order: segment, queue, semaphore set
    wanted = [n for n, on in (("shm", args.shmem is not None), ("msg", args.queue),
                              ("sem", args.semaphore is not None)) if on]
    if not wanted:
        raise UsageError("choose what to create: -Q, -S N or -M SIZE")
    if args.key is not None and len(wanted) > 1:
        raise UsageError("--key names one object: give one of -Q, -S, -M")
    label = {"shm": "Shared memory id", "msg": "Message queue id", "sem": "Semaphore id"}
    for name in wanted:
        if args.key is not None:
            obj = _create(name, args.key, args)
        else:
            while True:  # a random key, as ipcmk; another if it is taken
                try:
                    obj = _create(name, secrets.randbits(31) or 1, args)
                    break
                except FileExistsError:
                    continue
        if args.json:
            kind = kind_named(name)
            env.out(json.dumps(record(kind, stat_of(kind, obj))))
        else:
            env.out(f"{label[name]}: {obj.id}")
    return ExitStatus.SUCCESS
