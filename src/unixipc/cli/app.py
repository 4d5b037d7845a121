"""Argument parsing, dispatch, and the one place errors become exit codes."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from typing import NoReturn, Sequence

from .environment import Environment
from .exitcodes import ExitStatus

#: Subcommand name -> module under unixipc.cli.commands (imported on use).
COMMANDS = ("ls", "rm", "stat", "msg", "sem", "shm", "ftok", "tour", "bench")

DESCRIPTION = """\
Every Unix IPC mechanism from the shell: list, inspect and remove System V
queues, semaphore sets and shared memory; send and receive messages; see every
mechanism at work (`unixipc tour`) and measure it (`unixipc bench`).
"""

EPILOG = """\
examples:
  unixipc tour                      see every mechanism at work, in under 10 s
  unixipc ls --json                 every queue, semaphore set and segment
  unixipc msg send 32769 hello      send "hello" (type 1) to queue 32769
  unixipc ftok /etc/passwd 65       the key C's ftok gives, as ipcs shows it

Run 'unixipc COMMAND --help' for a command's options and examples.
"""


class UsageError(Exception):
    """A command line that parsed but makes no sense (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, writing to the injected streams and never exiting."""

    env: Environment

    def _print_message(self, message: str, file: object = None) -> None:
        # argparse passes sys.stdout for --help and sys.stderr (or None) else.
        if message:
            (self.env.stdout if file is sys.stdout else self.env.stderr).write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.env.stderr.write(message)
        raise _ParserExit(status)

    def error(self, message: str) -> NoReturn:
        self.print_usage(self.env.stderr)
        self.exit(ExitStatus.USAGE, f"{self.prog}: error: {message}\n")


class _ParserExit(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def build_parser(env: Environment) -> argparse.ArgumentParser:
    _Parser.env = env
    parser = _Parser(prog="unixipc", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traceback", action="store_true",
                        help="on error, print the whole traceback, not one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f".commands.{name}", __package__)
        cmd = sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION,
                             epilog=getattr(module, "EPILOG", None),
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run ``unixipc`` with ``argv`` (default: sys.argv[1:]); return the exit status."""
    env = env or Environment()
    parser = build_parser(env)
    try:
        args, extras = parser.parse_known_args(argv)
        # argparse splits a variable positional list around options
        # ("msg send 9 --type 2 DATA"); commands that take `words` get the
        # rest of them back here.
        if extras and isinstance(getattr(args, "words", None), list) and not any(
                e.startswith("-") and e != "-" for e in extras):
            args.words += extras
        elif extras:
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
    except _ParserExit as exc:
        return exc.status
    try:
        return int(args.run(args, env))
    except KeyboardInterrupt:
        env.err("unixipc: interrupted")
        return ExitStatus.INTERRUPTED
    except BrokenPipeError as exc:
        if not env.stdout_closed():
            _report(env, args, exc)
            return ExitStatus.ERROR
        # The reader of stdout went away: say nothing (it would be read by
        # no one), and leave nothing for the interpreter to flush at exit.
        _discard_stdout(env)
        return ExitStatus.BROKEN_PIPE
    except UsageError as exc:
        env.err(f"unixipc {args.command}: error: {exc}")
        return ExitStatus.USAGE
    except TimeoutError as exc:
        _report(env, args, exc)
        return ExitStatus.TIMEOUT
    except Exception as exc:  # noqa: BLE001 - every error is one line (or --traceback)
        _report(env, args, exc)
        return ExitStatus.ERROR


def _discard_stdout(env: Environment) -> None:
    import os

    try:
        fd = env.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _report(env: Environment, args: argparse.Namespace, exc: BaseException) -> None:
    if args.traceback:
        env.err("".join(traceback.format_exception(exc)).rstrip())
    else:
        text = str(exc) or type(exc).__name__
        if not isinstance(exc, (OSError, ValueError, TypeError, LookupError, EOFError)):
            text = f"{type(exc).__name__}: {text}"  # unexpected: say what it was
        env.err(f"unixipc {args.command}: error: {' '.join(text.split())}")
