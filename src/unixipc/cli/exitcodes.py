"""Exit statuses of the ``unixipc`` command: the one table every command
follows (docs/cli.md shows it; tests/cli/test_cli_exitcodes.py checks each
command against it)."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """What ``unixipc`` returns to the shell."""

    SUCCESS = 0
    #: A system call failed (missing id, permission denied, ...).
    ERROR = 1
    #: The command line was wrong: a bad option, a missing argument, or a
    #: value the command or the library refuses (a key of 0, bad hex, a
    #: project id of 0, an offset outside the segment).
    USAGE = 2
    #: ``tour``: a demonstrated rule did not hold on this machine.
    CHECK_FAILED = 3
    #: Nothing could be done without waiting longer: a ``--timeout`` ran
    #: out, or ``--no-wait`` found it would have to wait (an empty queue, a
    #: full one, a semaphore that cannot be decremented).
    TIMEOUT = 4
    #: SIGHUP (128 + 1): the terminal went away; cleaned up as on Ctrl-C.
    HANGUP = 129
    #: Ctrl-C (128 + SIGINT), as shells report it.
    INTERRUPTED = 130
    #: Standard output was closed early (``unixipc ls | head -1``): quietly,
    #: as a shell reports a process killed by SIGPIPE (128 + 13).
    BROKEN_PIPE = 141
    #: SIGTERM (128 + 15), as ``kill``, ``timeout`` and systemd send it;
    #: cleaned up as on Ctrl-C.
    TERMINATED = 143


#: One line per status, for the manual page and the help.
MEANINGS = {
    ExitStatus.SUCCESS: "success",
    ExitStatus.ERROR: "a system call failed (not found, permission denied, ...)",
    ExitStatus.USAGE: "the command line was wrong (an option, an argument, a value refused)",
    ExitStatus.CHECK_FAILED: "tour: a demonstrated rule did not hold on this machine",
    ExitStatus.TIMEOUT: "not without waiting: --timeout ran out, or --no-wait would wait",
    ExitStatus.HANGUP: "SIGHUP; what the command made was removed first",
    ExitStatus.INTERRUPTED: "Ctrl-C (SIGINT); what the command made was removed first",
    ExitStatus.BROKEN_PIPE: "standard output was closed by its reader; nothing printed",
    ExitStatus.TERMINATED: "SIGTERM; what the command made was removed first",
}
