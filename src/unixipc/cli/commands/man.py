"""unixipc man: the manual page, generated from the argparse definitions."""

from __future__ import annotations

import argparse
import datetime

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "print the unixipc(1) manual page (roff), generated from the options"
DESCRIPTION = """\
Print the manual page of unixipc in roff, made from the same argparse
definitions the commands parse with: every command, its options and
examples, the exit statuses. Read it with man -l, or install it."""
EPILOG = """\
examples:
  unixipc man | man -l -
  unixipc man > ~/.local/share/man/man1/unixipc.1"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _roff(text: str) -> str:
    """Plain text as roff: backslashes and leading dots/quotes escaped."""
    out = []
    for line in text.replace("\\", "\\e").splitlines():
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line.replace("-", "\\-"))
    return "\n".join(out)


def _date() -> str:
    """The page's date: SOURCE_DATE_EPOCH's (reproducible builds) when set,
    else today's."""
    import os

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
        return when.date().isoformat()
    return datetime.date.today().isoformat()


def manual() -> str:
    from ... import __version__
    from ..app import EPILOG as TOP_EPILOG, build_parser
    from ..environment import Environment as Env
    from ..exitcodes import MEANINGS, ExitStatus as Status
    from ..parsertree import tree, walk

    top = tree(build_parser(Env()))
    other_names = {child.words[0]: child.aliases for child in top.children}
    date = _date()
    lines = [f'.TH UNIXIPC 1 "{date}" "unixipc {__version__}" "User Commands"',
             ".SH NAME", "unixipc \\- every Unix IPC mechanism from the shell",
             ".SH SYNOPSIS", ".B unixipc", "[\\-\\-traceback] COMMAND [options]",
             ".SH DESCRIPTION", _roff(top.parser.description or ""), ".SH COMMANDS"]
    for node in walk(top)[1:]:
        if node.children:
            continue  # 'msg': its actions have the options
        words = " ".join(node.words)
        lines += [".SS " + _roff(f"unixipc {words}"), _roff(node.help) + "."]
        for alias in other_names.get(node.words[0], []):
            lines += [".PP", _roff(f"Also spelled: unixipc {' '.join([alias, *node.words[1:]])}.")]
        lines += [".PP", _roff(node.parser.description or "")]
        usage = node.parser.format_usage().removeprefix("usage: ").strip()
        lines += [".PP", ".nf", _roff(" ".join(usage.split())), ".fi"]
        for action in node.parser._actions:
            if not action.option_strings and action.dest in ("help",):
                continue
            if isinstance(action, argparse._HelpAction):
                continue
            name = ", ".join(action.option_strings) or str(action.metavar or action.dest)
            if action.option_strings and action.nargs != 0 and not isinstance(
                    action, (argparse._StoreTrueAction, argparse._StoreConstAction,
                             argparse._AppendConstAction, argparse._VersionAction)):
                name += " " + str(action.metavar or action.dest.upper())
            lines += [".TP", "\\fB" + _roff(str(name)) + "\\fR", _roff(action.help or "")]
        if node.parser.epilog:
            lines += [".PP", ".nf", _roff(node.parser.epilog), ".fi"]
    lines.append(".SH EXIT STATUS")
    for status in Status:
        lines += [".TP", f"\\fB{int(status)}\\fR ({status.name})", _roff(MEANINGS[status])]
    lines += [".SH EXAMPLES", ".nf", _roff(TOP_EPILOG), ".fi",
              ".SH SEE ALSO", "ipcs(1), ipcmk(1), ipcrm(1), lsipc(1), svipc(7), "
                              "sysvipc(7), mq_overview(7), pipe(7), fifo(7)"]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, env: Environment) -> int:
    env.stdout.write(manual())
    env.stdout.flush()
    return ExitStatus.SUCCESS
