"""unixipc msg send|recv (also spelled mq): poke a message queue from the
shell, a System V one by id or key, or a POSIX one by /name."""

from __future__ import annotations

import argparse
from typing import Any

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "send to or receive from a message queue: System V (id, --key) or POSIX (/name)"
#: The other name of this command (the POSIX queues' own word).
ALIASES = ["mq"]
DESCRIPTION = """\
Send one message to a queue, or receive messages from it: a System V queue
by id or by key, a POSIX queue by its name (/name, one leading slash), with
--priority in place of --type ('mq' is another name for this command).
Binary-safe: data can come from standard input ('-') or as --hex. Received
messages go to standard output raw when it is not a terminal (--lines, -0:
each followed by a newline or a NUL; --json: one JSON object per line),
and on a terminal as 'TYPE<tab>TEXT' lines (POSIX: 'PRIORITY<tab>TEXT') with control characters and
invalid UTF-8 shown escaped (\x1b, \n, \xff), so a message cannot drive
the terminal; --raw writes the bytes as they are even there."""
EPILOG = """\
examples:
  unixipc msg send 32768 hello                  type 1
  unixipc msg send --key 0x41000c02 --type 7 -  data from stdin
  unixipc msg recv 32768 --type -5 --timeout 2  lowest type <= 5, wait 2 s
  unixipc msg recv 32768 --follow               print messages as they come
  unixipc msg recv 32768 --count 10 > out.bin   raw bytes of 10 messages
  unixipc msg recv 32768 --follow --json | jq .data
  unixipc mq send /jobs --priority 5 urgent     a POSIX queue, by name
  unixipc mq recv /jobs --count 2 --lines       highest priority first"""

SEND_EPILOG = """\
examples:
  unixipc msg send 32768 hello                  type 1
  unixipc msg send 32768 --type 7 --hex 00ff10  three bytes, type 7
  unixipc msg send --key 0x41000c02 - < f.bin   one message from stdin
  unixipc mq send /jobs --priority 9 now        a POSIX queue, priority 9"""
RECV_EPILOG = """\
examples:
  unixipc msg recv 32768                        the first message
  unixipc msg recv 32768 --type 3 --except      the first NOT of type 3
  unixipc msg recv 32768 --type -5 --timeout 2  lowest type <= 5, wait 2 s
  unixipc msg recv 32768 --truncate 16 --hex    at most 16 bytes, in hex
  unixipc msg recv 32768 --follow               until Ctrl-C (status 130)
  unixipc msg recv 32768 --follow --lines | head -2   two messages, then ends
  unixipc msg recv 32768 --count 3 --json       {"type": 1, "size": 5, ...} lines
  unixipc mq recv /jobs --json                  {"priority": 0, "size": 5, ...}"""


def _queue_args(p: argparse.ArgumentParser) -> None:
    from ..sysv import parse_key

    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?", metavar="ID|/NAME",
                        help="the System V queue's id, or a POSIX queue's /name")
    target.add_argument("--key", type=parse_key, help="the queue's key (0x... or decimal)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    send = sub.add_parser("send", help="send one message",
                          usage="unixipc msg send (ID | /NAME | --key KEY) DATA [options]",
                          description="Send DATA (or standard input with '-') as one message "
                                      "to a System V queue (ID, --key) or a POSIX one (/NAME).",
                          epilog=SEND_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from ..sysv import parse_key

    send.add_argument("words", nargs="+", metavar="ID DATA",
                      help="the queue's id or /name (unless --key) and the message text, "
                           "'-' for standard input")
    send.add_argument("--key", type=parse_key, help="the queue's key (0x... or decimal)")
    send.add_argument("--type", type=int, help="System V: message type, >= 1 (default 1)")
    send.add_argument("--priority", type=int,
                      help="POSIX: the message's priority, 0 (the default) to MQ_PRIO_MAX-1; "
                           "higher ones are received first")
    send.add_argument("--hex", action="store_true", help="DATA is hexadecimal")
    send.add_argument("--timeout", type=float, help="give up after this many seconds")
    send.add_argument("--no-wait", action="store_true", help="fail at once if the queue is full")

    recv = sub.add_parser("recv", help="receive messages",
                          description="Receive messages from a System V queue (ID, --key) or "
                                      "a POSIX one (/NAME: the highest priority first): raw "
                                      "bytes to standard output when it is not a terminal, "
                                      "else 'TYPE<tab>TEXT' lines ('PRIORITY<tab>TEXT' for "
                                      "POSIX) with non-printable characters escaped.",
                          epilog=RECV_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _queue_args(recv)
    recv.add_argument("--type", type=int,
                      help="System V: 0 (the default): first message; N>0: first of type N; "
                           "N<0: lowest type <= |N|")
    recv.add_argument("--except", dest="exclude", action="store_true",
                      help="System V, with --type N>0: first message NOT of type N "
                           "(MSG_EXCEPT)")
    recv.add_argument("--truncate", type=int, metavar="N",
                      help="System V: receive at most N bytes, dropping the rest (MSG_NOERROR)")
    recv.add_argument("--timeout", type=float, help="wait at most this many seconds (each)")
    recv.add_argument("--no-wait", action="store_true", help="fail at once if nothing is queued")
    more = recv.add_mutually_exclusive_group()
    more.add_argument("--count", type=int, default=1, help="receive N messages (default 1)")
    more.add_argument("--follow", action="store_true",
                      help="receive until interrupted (or until standard output is closed)")
    form = recv.add_mutually_exclusive_group()
    form.add_argument("--hex", action="store_true",
                      help="'TYPE<tab>HEX' lines (POSIX: 'PRIORITY<tab>HEX')")
    form.add_argument("--json", action="store_true",
                      help="one JSON object per line: type (POSIX: priority), size, "
                           "encoding ('text' or 'base64') and data")
    form.add_argument("-0", "--null", action="store_true",
                      help="raw bytes, each message followed by a NUL byte")
    form.add_argument("--lines", action="store_true",
                      help="raw bytes, each message followed by a newline")
    form.add_argument("--raw", action="store_true",
                      help="raw bytes with nothing added, even on a terminal")
    # An option spelled like a negative number (-0) makes argparse read
    # every negative number as an option: "--type -5" must stay a value.
    recv._has_negative_number_optionals.clear()


class _Queue:
    """The queue a command line names, System V or POSIX, with one way to
    send and receive: ``label`` is what each message carries ("type" or
    "priority")."""

    def __init__(self, args: argparse.Namespace, target: str | None, *, send: bool) -> None:
        from ..app import UsageError
        from ..posixipc import check_name

        self.posix = target is not None and target.startswith("/")
        self.label = "priority" if self.posix else "type"
        if self.posix:
            assert target is not None
            mistakes = [flag for flag, given in (
                ("--type", args.type is not None),
                ("--except", getattr(args, "exclude", False)),
                ("--truncate", getattr(args, "truncate", None) is not None)) if given]
            if mistakes:
                raise UsageError(f"{mistakes[0]} is for System V queues; a POSIX queue "
                                 "(/name) has priorities: --priority on send")
            self.name = check_name(target)
            self._open_posix(send)
            return
        if getattr(args, "priority", None) is not None:
            raise UsageError("--priority is for POSIX queues (/name); a System V queue "
                             "has --type")
        if target is not None:
            try:
                args.id = int(target)
            except ValueError:
                raise UsageError(f"not a queue id or /name: {target!r}") from None
        self.sysv = _open(args, 0o200 if send else 0o400)

    def _open_posix(self, send: bool) -> None:
        from ... import posix
        from ..posixipc import not_found

        try:
            self.pmq = posix.MessageQueue(self.name, read=not send, write=send)
        except FileNotFoundError as exc:
            raise not_found("mq", self.name, exc) from None

    def close(self) -> None:
        if self.posix:
            self.pmq.close()

    def send(self, data: bytes, args: argparse.Namespace) -> None:
        if self.posix:
            self.pmq.send(data, args.priority or 0, block=not args.no_wait,
                          timeout=args.timeout)
        else:
            self.sysv.send(data, type=1 if args.type is None else args.type,
                           block=not args.no_wait, timeout=args.timeout)

    def receive(self, args: argparse.Namespace, *, block: bool,
                timeout: float | None) -> tuple[int, bytes]:
        """(type or priority, data) of the next message."""
        if self.posix:
            msg = self.pmq.receive(block=block, timeout=timeout)
            return msg.priority, msg.data
        got = self.sysv.receive(type=args.type or 0, exclude=args.exclude,
                                max_size=args.truncate, truncate=args.truncate is not None,
                                block=block, timeout=timeout)
        return got.type, got.data


def _open(args: argparse.Namespace, mode: int) -> Any:
    """The System V queue, by id or by key; a key is opened asking only for
    the access used (``mode``: 0o200 to send, 0o400 to receive), so a
    sender needs no read permission. Never creates a queue."""
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
        raise UsageError("give ID (or /NAME) and DATA, or --key KEY and DATA")
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
    queue = _Queue(args, None if args.key is not None else args.words[0], send=True)
    try:
        queue.send(data, args)
    finally:
        queue.close()
    return ExitStatus.SUCCESS


#: How long one wait lasts before checking that standard output still has a
#: reader ("--follow | head -2" ends when head does, not at the next message).
_POLL_SECONDS = 0.25


def _receive(queue: _Queue, args: argparse.Namespace, env: Environment) -> tuple[int, bytes]:
    import time

    if args.no_wait:
        return queue.receive(args, block=False, timeout=None)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        last = left is not None and left <= _POLL_SECONDS
        try:
            return queue.receive(args, block=True, timeout=left if last else _POLL_SECONDS)
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
    queue = _Queue(args, None if args.key is not None else args.id, send=False)
    raw = args.raw or (not env.stdout_isatty and not (args.hex or args.json))
    end = b"\0" if args.null else b"\n" if args.lines else b""
    received = 0
    try:
        while args.follow or received < args.count:
            label, data = _receive(queue, args, env)
            received += 1
            if args.json:
                env.out(json.dumps({queue.label: label, "size": len(data), **json_data(data)}))
            elif args.hex:
                env.out(f"{label}\t{data.hex()}")
            elif raw or args.null or args.lines:
                env.write_bytes(data + end)
            else:
                env.out(f"{label}\t{escape_bytes(data)}")
    finally:
        queue.close()
    return ExitStatus.SUCCESS


def run(args: argparse.Namespace, env: Environment) -> int:
    return _send(args, env) if args.action == "send" else _recv(args, env)
