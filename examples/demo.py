"""A short demo of unixipc between real processes (until `unixipc tour` exists).

Run: python examples/demo.py
"""

from __future__ import annotations

import os
import tempfile
import time

import unixipc
from unixipc import _core


def show_ftok() -> None:
    with tempfile.NamedTemporaryFile() as anchor:
        key = unixipc.ftok(anchor.name, 42)
        print(f"ftok({anchor.name!r}, 42) = {key:#010x}: two processes that name the same file")
        pid = os.fork()
        if pid == 0:
            os._exit(0 if unixipc.ftok(anchor.name, 42) == key else 1)
        _, status = os.waitpid(pid, 0)
        print(f"  ... and a child computes the same key: {os.waitstatus_to_exitcode(status) == 0}")


def show_timeout() -> None:
    t0 = time.monotonic()
    try:
        _core._pause(0.2)
    except TimeoutError as exc:
        print(f"a call with no timed form, bounded by timeout=0.2: {exc} "
              f"after {time.monotonic() - t0:.2f}s")


def main() -> int:
    show_ftok()
    show_timeout()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
