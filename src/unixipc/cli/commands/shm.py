"""unixipc shm dump: show the bytes of a shared memory segment."""

from __future__ import annotations

import argparse

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "dump the bytes of a System V shared memory segment"
DESCRIPTION = """\
Attach a segment read-only and print its bytes: raw to standard output when
it is not a terminal, else as a hex dump (--hex forces the hex dump)."""
EPILOG = """\
examples:
  unixipc shm dump 5 --length 64
  unixipc shm dump 5 --offset 4096 --length 16 --hex
  unixipc shm dump 5 > segment.bin
  unixipc shm dump 5 --length 16 --json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    dump = sub.add_parser("dump", help="print the segment's bytes", description=DESCRIPTION,
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    dump.add_argument("id", type=int)
    dump.add_argument("--offset", type=int, default=0, help="first byte (default 0)")
    dump.add_argument("--length", type=int, help="how many bytes (default: to the end)")
    form = dump.add_mutually_exclusive_group()
    form.add_argument("--hex", action="store_true", help="hex dump even when piped")
    form.add_argument("--json", action="store_true",
                      help='one JSON object: id, offset, size, encoding ("base64"), data')
    form.add_argument("--raw", action="store_true", help="raw bytes even on a terminal")


def hexdump(data: bytes, start: int) -> list[str]:
    lines = []
    for at in range(0, len(data), 16):
        chunk = data[at:at + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{start + at:08x}  {hexes:<47}  |{text}|")
    return lines


def run(args: argparse.Namespace, env: Environment) -> int:
    from ..app import UsageError
    from ..output import json_data, print_json
    from ..sysv import kind_named, open_by_id

    seg = open_by_id(kind_named("shm"), args.id)
    view = seg.attach(readonly=True)
    try:
        end = seg.size if args.length is None else args.offset + args.length
        if not 0 <= args.offset <= end <= seg.size:
            raise UsageError(f"offset/length outside the {seg.size}-byte segment")
        data = bytes(view[args.offset:end])
    finally:
        view.release()
        seg.detach()
    if args.json:
        print_json(env, {"id": seg.id, "offset": args.offset, "size": len(data),
                         **json_data(data, text=False)})
    elif args.hex or (env.stdout_isatty and not args.raw):
        for line in hexdump(data, args.offset):
            env.out(line)
    else:
        env.write_bytes(data)
    return ExitStatus.SUCCESS
