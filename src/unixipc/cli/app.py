"""Argument parsing, dispatch, and the one place errors become exit codes."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import traceback
from typing import Any, Iterator, NoReturn, Sequence

from .environment import Environment
from .exitcodes import ExitStatus

#: Subcommand name -> module under unixipc.cli.commands (imported on use).
COMMANDS = ("ls", "mk", "rm", "stat", "msg", "sem", "shm", "ftok", "tour", "bench",
            "completion", "man")

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


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: raised where the command is, so that
    everything Ctrl-C cleans up (the tour's directory, the benchmark's child
    and objects) is cleaned up the same way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: True while a command runs in this process: children it forks then die
#: with it (PR_SET_PDEATHSIG), even if it is killed with SIGKILL.
_running = False
_hook_installed = False


def _die_with_parent() -> None:
    if not _running:
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)


@contextlib.contextmanager
def _lifecycle() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` (once: a second one
    during clean-up is ignored), and forked children get PR_SET_PDEATHSIG.
    Restored on the way out (main runs in-process in the tests)."""
    global _running, _hook_installed
    if not _hook_installed:
        forker = [0]

        def before() -> None:
            forker[0] = os.getpid()

        def child() -> None:
            if _running:
                _die_with_parent()
                if os.getppid() != forker[0]:  # the parent died before prctl
                    os._exit(1)

        os.register_at_fork(before=before, after_in_child=child)
        _hook_installed = True
    old: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        def handler(signum: int, frame: object) -> None:
            for sig in old:
                signal.signal(sig, signal.SIG_IGN)
            raise Terminated(signum)

        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup: stay ignored
                old[sig] = signal.signal(sig, handler)
    _running = True
    try:
        yield
    finally:
        _running = False
        for sig, previous in old.items():
            signal.signal(sig, previous)


class _ParserExit(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def build_parser(env: Environment) -> argparse.ArgumentParser:
    _Parser.env = env
    parser = _Parser(prog="unixipc", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traceback", action="store_true",
                        help="on error, print the whole traceback, not one line")
    from .. import __version__

    parser.add_argument("-V", "--version", action="version",
                        version=f"unixipc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f".commands.{name}", __package__)
        cmd = sub.add_parser(name, aliases=getattr(module, "ALIASES", []), help=module.HELP,
                             description=module.DESCRIPTION,
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
            # The usage of the (sub)command the mistake is in, not the top's.
            _innermost(parser, args).error(f"unrecognized arguments: {' '.join(extras)}")
    except _ParserExit as exc:
        return exc.status
    try:
        with _lifecycle():
            return int(args.run(args, env))
    except Terminated as exc:
        env.err("unixipc: " + ("hung up" if exc.signum == signal.SIGHUP else "terminated"))
        return ExitStatus.HANGUP if exc.signum == signal.SIGHUP else ExitStatus.TERMINATED
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
        env.err(f"{_prog(args)}: error: {exc}")
        return ExitStatus.USAGE
    except (TimeoutError, BlockingIOError) as exc:
        # Both mean "not without waiting (longer)": --timeout ran out, or
        # --no-wait found an empty queue, a full one, a busy semaphore.
        _report(env, args, exc)
        return ExitStatus.TIMEOUT
    except (ValueError, TypeError) as exc:
        # The library refused a value from the command line.
        _report(env, args, exc)
        return ExitStatus.USAGE
    except Exception as exc:  # noqa: BLE001 - every error is one line (or --traceback)
        _report(env, args, exc)
        return ExitStatus.ERROR


def _innermost(parser: argparse.ArgumentParser,
               args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the deepest subcommand named in ``args``."""
    while True:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = getattr(args, action.dest, None)
                if chosen in action.choices:
                    parser = action.choices[chosen]
                    break
        else:
            return parser


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
        env.err(f"{_prog(args)}: error: {' '.join(text.split())}")


def _prog(args: argparse.Namespace) -> str:
    """'unixipc msg recv': the command (and action) that failed."""
    action = getattr(args, "action", None)
    return f"unixipc {args.command}" + (f" {action}" if isinstance(action, str) else "")
