"""Exit statuses of the ``unixipc`` command."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """What ``unixipc`` returns to the shell."""

    SUCCESS = 0
    #: A system call failed (missing id, permission denied, ...).
    ERROR = 1
    #: The command line was wrong (argparse's own status).
    USAGE = 2
    #: ``tour``: a demonstrated rule did not hold on this machine.
    CHECK_FAILED = 3
    #: A ``--timeout`` ran out with nothing received.
    TIMEOUT = 4
    #: Ctrl-C (128 + SIGINT), as shells report it.
    INTERRUPTED = 130
    #: Standard output was closed early (``unixipc ls | head -1``): quietly,
    #: as a shell reports a process killed by SIGPIPE (128 + 13).
    BROKEN_PIPE = 141
