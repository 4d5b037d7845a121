"""The streams and terminal facts a command runs with (injectable for tests)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


@dataclass
class Environment:
    """Where a command reads and writes.

    Attributes:
        stdin, stdout, stderr: text streams.
        stdin_binary, stdout_binary: byte streams under them (raw message
            data is written here when stdout is not a terminal).
        stdout_isatty: whether stdout is a terminal (tables and colour).
        colors: ANSI colour and bold allowed: stdout is a terminal, NO_COLOR
            is unset or empty (https://no-color.org) and TERM is not "dumb".
    """

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin_binary: BinaryIO | None = None
    stdout_binary: BinaryIO | None = None
    stdout_isatty: bool | None = None
    colors: bool | None = None

    def __post_init__(self) -> None:
        if self.stdin_binary is None:
            self.stdin_binary = getattr(self.stdin, "buffer", None)
        if self.stdout_binary is None:
            self.stdout_binary = getattr(self.stdout, "buffer", None)
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.colors is None:
            self.colors = (bool(self.stdout_isatty) and not os.environ.get("NO_COLOR")
                           and os.environ.get("TERM") != "dumb")

    def out(self, text: str = "") -> None:
        """Print a line on stdout, flushed: a slow command (tour, msg recv
        --follow) shows its progress line by line even through a pipe."""
        print(text, file=self.stdout, flush=True)

    def err(self, text: str) -> None:
        """Print a line on stderr."""
        print(text, file=self.stderr, flush=True)

    def write_bytes(self, data: bytes) -> None:
        """Write raw bytes to stdout (through its binary buffer)."""
        self.stdout.flush()
        if self.stdout_binary is None:
            raise OSError("stdout has no binary buffer for raw output")
        self.stdout_binary.write(data)
        self.stdout_binary.flush()

    def stdout_closed(self) -> bool:
        """Whether stdout is a pipe whose reader went away (POLLERR)."""
        import select

        try:
            fd = self.stdout.fileno()
        except (AttributeError, OSError, ValueError):
            return False
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))

    def bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.colors else text

    def color(self, text: str, code: str) -> str:
        """``code``: an SGR number such as "32" (green) or "31" (red)."""
        return f"\x1b[{code}m{text}\x1b[0m" if self.colors else text
