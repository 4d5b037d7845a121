"""Fork a child that runs one function and exits: the helper the tour and
the benchmarks share (tests have their own, ``tests/support.Child``)."""

from __future__ import annotations

import os
import signal
from typing import Any, Callable


def fork_call(body: Callable[[], Any]) -> int:
    """Fork; the child runs ``body()`` with SIGINT back at its default
    action (so a Ctrl-C to the process group ends it at once) and exits
    with status 0, or 1 if ``body`` raised. Returns the child's pid; reaping
    it is the caller's business."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            body()
            code = 0
        finally:
            os._exit(code)
    return pid
