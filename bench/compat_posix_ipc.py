"""Benchmark unixipc.compat.posix_ipc against the real posix_ipc, same run.

    .venv/bin/pip install -e '.[test]'      # posix_ipc is in the test extra
    unshare --ipc .venv/bin/python bench/compat_posix_ipc.py [--quick]

Per call, in one process (what the layer adds to each call shows there,
nothing else does): a 64-byte send + receive pair on one POSIX queue of
the package's default capacity (max_message_size 8192: each receive needs
a buffer that large) and on one of 1 KiB messages, and an acquire +
release pair on one named semaphore, for the real posix_ipc,
the shim (``import unixipc.compat.posix_ipc as posix_ipc``) and unixipc's
native classes. Best of ``--rounds`` interleaved runs; every object is
unlinked at the end.
"""

from __future__ import annotations

import argparse
import os
from types import ModuleType
from typing import Any, Callable

import unixipc.compat.posix_ipc as shim
from unixipc import posix
from unixipc.bench.harness import interleaved_best, pair_loop, print_ratios

Loop = Callable[[int], None]
REAL = "posix_ipc 1.3.2 (real)"
COLUMNS = ["send+receive 8K q", "send+receive 1K q", "acquire+release"]
DATA = b"x" * 64


def _loops(default: Any, small: Any, sem: Any) -> tuple[Loop, ...]:
    return (pair_loop(default.send, default.receive, DATA),
            pair_loop(small.send, small.receive, DATA), pair_loop(sem.acquire, sem.release))


def _posix_style(mod: ModuleType, cleanup: list[Callable[[], None]]) -> tuple[Loop, ...]:
    """The loops over two queues and a semaphore of ``mod``'s API."""
    default = mod.MessageQueue(None, mod.O_CREX)
    small = mod.MessageQueue(None, mod.O_CREX, max_message_size=1024)
    sem = mod.Semaphore(None, mod.O_CREX, initial_value=1)
    for obj in (default, small, sem):
        cleanup += [obj.unlink, obj.close]
    return _loops(default, small, sem)


def _native(cleanup: list[Callable[[], None]]) -> tuple[Loop, ...]:
    tag = f"/unixipc-bench-{os.getpid()}"
    default = posix.MessageQueue(tag + "-mq", exclusive=True, max_message_size=8192)
    small = posix.MessageQueue(tag + "-mq1k", exclusive=True, max_message_size=1024)
    sem = posix.Semaphore(tag + "-sem", exclusive=True, initial=1)
    for obj in (default, small, sem):
        cleanup += [obj.unlink, obj.close]
    return _loops(default, small, sem)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations")
    parser.add_argument("--rounds", type=int, default=5, help="best of this many runs (5)")
    args = parser.parse_args()
    n = 20000 if args.quick else 200000
    loops: dict[str, tuple[Loop, ...]] = {}
    cleanup: list[Callable[[], None]] = []
    try:
        try:
            import posix_ipc
        except ImportError:
            print("posix_ipc is not installed (pip install -e '.[test]'): measuring without it")
        else:
            loops[REAL] = _posix_style(posix_ipc, cleanup)
        loops["unixipc.compat.posix_ipc"] = _posix_style(shim, cleanup)
        loops["unixipc native"] = _native(cleanup)
        best = interleaved_best(loops, n, args.rounds)
    finally:
        for done in cleanup:
            done()
    print_ratios(best, COLUMNS, REAL, f"ns per pair of 64 B messages or of semaphore calls, "
                                      f"best of {args.rounds} x {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
