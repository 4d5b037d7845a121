"""unixipc msg send|recv: poke a System V message queue from the shell."""

from __future__ import annotations

import argparse
from typing import Any

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "send to or receive from a System V message queue"
DESCRIPTION = """\
Send one message to a queue, or receive messages from it, by id or by key.
Binary-safe: data can come from standard input ('-') or as --hex. Received
messages go to standard output raw when it is not a terminal (--lines, -0:
each followed by a newline or a NUL; --json: one JSON object per line),
and on a terminal as 'TYPE<tab>TEXT' lines with control characters and
invalid UTF-8 shown escaped (\x1b, \n, \xff), so a message cannot drive
the terminal; --raw writes the bytes as they are even there."""
EPILOG = """\
examples:
  unixipc msg send 32768 hello                  type 1
  unixipc msg send --key 0x41000c02 --type 7 -  data from stdin
  unixipc msg recv 32768 --type -5 --timeout 2  lowest type <= 5, wait 2 s
  unixipc msg recv 32768 --follow               print messages as they come
  unixipc msg recv 32768 --count 10 > out.bin   raw bytes of 10 messages
  unixipc msg recv 32768 --follow --json | jq .data"""

SEND_EPILOG = """\
examples:
  unixipc msg send 32768 hello                  type 1
  unixipc msg send 32768 --type 7 --hex 00ff10  three bytes, type 7
  unixipc msg send --key 0x41000c02 - < f.bin   one message from stdin"""
RECV_EPILOG = """\
examples:
  unixipc msg recv 32768                        the first message
  unixipc msg recv 32768 --type 3 --except      the first NOT of type 3
  unixipc msg recv 32768 --type -5 --timeout 2  lowest type <= 5, wait 2 s
  unixipc msg recv 32768 --truncate 16 --hex    at most 16 bytes, in hex
  unixipc msg recv 32768 --follow               until Ctrl-C (status 130)
  unixipc msg recv 32768 --follow --lines | head -2   two messages, then ends
  unixipc msg recv 32768 --count 3 --json       {"type": 1, "size": 5, ...} lines"""


def _queue_args(p: argparse.ArgumentParser) -> None:
    from ..sysv import parse_key

    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?", type=int, help="the queue's id")
    target.add_argument("--key", type=parse_key, help="the queue's key (0x... or decimal)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    send = sub.add_parser("send", help="send one message",
                          usage="unixipc msg send (ID | --key KEY) DATA [options]",
                          description="Send DATA (or standard input with '-') as one message.",
                          epilog=SEND_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from ..sysv import parse_key

    send.add_argument("words", nargs="+", metavar="ID DATA",
                      help="the queue's id (unless --key) and the message text, "
                           "'-' for standard input")
    send.add_argument("--key", type=parse_key, help="the queue's key (0x... or decimal)")
    send.add_argument("--type", type=int, default=1, help="message type, >= 1 (default 1)")
    send.add_argument("--hex", action="store_true", help="DATA is hexadecimal")
    send.add_argument("--timeout", type=float, help="give up after this many seconds")
    send.add_argument("--no-wait", action="store_true", help="fail at once if the queue is full")

    recv = sub.add_parser("recv", help="receive messages",
                          description="Receive messages: raw bytes to standard output when it "
                                      "is not a terminal, else 'TYPE<tab>TEXT' lines with "
                                      "non-printable characters escaped.",
                          epilog=RECV_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _queue_args(recv)
    recv.add_argument("--type", type=int, default=0,
                      help="0: first message; N>0: first of type N; N<0: lowest type <= |N|")
    recv.add_argument("--except", dest="exclude", action="store_true",
                      help="with --type N>0: first message NOT of type N (MSG_EXCEPT)")
    recv.add_argument("--truncate", type=int, metavar="N",
                      help="receive at most N bytes, dropping the rest (MSG_NOERROR)")
    recv.add_argument("--timeout", type=float, help="wait at most this many seconds (each)")
    recv.add_argument("--no-wait", action="store_true", help="fail at once if nothing is queued")
    more = recv.add_mutually_exclusive_group()
    more.add_argument("--count", type=int, default=1, help="receive N messages (default 1)")
    more.add_argument("--follow", action="store_true",
                      help="receive until interrupted (or until standard output is closed)")
    form = recv.add_mutually_exclusive_group()
    form.add_argument("--hex", action="store_true", help="'TYPE<tab>HEX' lines")
    form.add_argument("--json", action="store_true",
                      help="one JSON object per line: type, size, encoding "
                           "('text' or 'base64') and data")
    form.add_argument("-0", "--null", action="store_true",
                      help="raw bytes, each message followed by a NUL byte")
    form.add_argument("--lines", action="store_true",
                      help="raw bytes, each message followed by a newline")
    form.add_argument("--raw", action="store_true",
                      help="raw bytes with nothing added, even on a terminal")
    # An option spelled like a negative number (-0) makes argparse read
    # every negative number as an option: "--type -5" must stay a value.
    recv._has_negative_number_optionals.clear()


def _open(args: argparse.Namespace, mode: int) -> Any:
    """The queue, by id or by key; a key is opened asking only for the
    access used (``mode``: 0o200 to send, 0o400 to receive), so a sender
    needs no read permission. Never creates a queue."""
    from ... import MessageQueue
    from ..sysv import kind_named, open_by_id, open_by_key

    kind = kind_named("msg")
    if args.key is None:
        return open_by_id(kind, args.id)
    return open_by_key(kind, args.key, lambda key: MessageQueue(key, mode=mode))


def _send(args: argparse.Namespace, env: Environment) -> int:
    from ..app import UsageError

    want = 1 if args.key is not None else 2
    if len(args.words) != want:
        raise UsageError("give ID and DATA, or --key KEY and DATA")
    if args.key is None:
        try:
            args.id = int(args.words[0])
        except ValueError:
            raise UsageError(f"not a queue id: {args.words[0]!r}")
    args.data = args.words[-1]
    if args.data == "-":
        if env.stdin_binary is None:
            raise OSError("standard input has no binary buffer")
        data = env.stdin_binary.read()
    elif args.hex:
        try:
            data = bytes.fromhex(args.data)
        except ValueError:
            raise UsageError(f"--hex DATA must be pairs of hex digits (00ff10), "
                             f"not {args.data!r}") from None
    else:
        data = args.data.encode()
    mq = _open(args, 0o200)
    mq.send(data, type=args.type, block=not args.no_wait, timeout=args.timeout)
    return ExitStatus.SUCCESS


#: How long one wait lasts before checking that standard output still has a
#: reader ("--follow | head -2" ends when head does, not at the next message).
_POLL_SECONDS = 0.25


def _receive(mq: Any, args: argparse.Namespace, env: Environment) -> Any:
    import time

    kwargs = dict(type=args.type, exclude=args.exclude, max_size=args.truncate,
                  truncate=args.truncate is not None)
    if args.no_wait:
        return mq.receive(block=False, **kwargs)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        last = left is not None and left <= _POLL_SECONDS
        try:
            return mq.receive(timeout=left if last else _POLL_SECONDS, **kwargs)
        except TimeoutError:
            if last:
                raise
        if env.stdout_closed():
            raise BrokenPipeError(32, "standard output was closed")


def _recv(args: argparse.Namespace, env: Environment) -> int:
    import json

    from ..app import UsageError
    from ..output import escape_bytes, json_data

    if args.count < 1:
        raise UsageError("--count must be at least 1")
    mq = _open(args, 0o400)
    raw = args.raw or (not env.stdout_isatty and not (args.hex or args.json))
    end = b"\0" if args.null else b"\n" if args.lines else b""
    received = 0
    while args.follow or received < args.count:
        msg = _receive(mq, args, env)
        received += 1
        if args.json:
            env.out(json.dumps({"type": msg.type, "size": len(msg.data),
                                **json_data(msg.data)}))
        elif args.hex:
            env.out(f"{msg.type}\t{msg.data.hex()}")
        elif raw or args.null or args.lines:
            env.write_bytes(msg.data + end)
        else:
            env.out(f"{msg.type}\t{escape_bytes(msg.data)}")
    return ExitStatus.SUCCESS


def run(args: argparse.Namespace, env: Environment) -> int:
    return _send(args, env) if args.action == "send" else _recv(args, env)
