"""Benchmark unixipc.compat.sysv_ipc against the real sysv_ipc, same run.

    .venv/bin/pip install -e '.[bench]'
    unshare --ipc .venv/bin/python bench/compat_sysv_ipc.py [--quick]

Per call, in one process (what the layer adds to each call shows there,
nothing else does): a 64-byte send + receive pair on one queue, and an
acquire + release pair on one semaphore, for the real sysv_ipc, the shim
(``import unixipc.compat.sysv_ipc as sysv_ipc``) and unixipc's native
classes. Best of ``--rounds`` runs; every object is removed at the end.
"""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import Callable

import unixipc
import unixipc.compat.sysv_ipc as shim
from unixipc.bench.harness import interleaved_best, pair_loop, print_ratios


Loop = Callable[[int], None]
DATA = b"x" * 64


def _sysv_style(mod: ModuleType, cleanup: list[Callable[[], None]]) -> tuple[Loop, Loop]:
    """The two loops over a queue and a semaphore of ``mod``'s API."""
    mq = mod.MessageQueue(None, mod.IPC_CREX)
    cleanup.append(mq.remove)
    sem = mod.Semaphore(None, mod.IPC_CREX, initial_value=1)
    cleanup.append(sem.remove)
    return pair_loop(mq.send, mq.receive, DATA), pair_loop(sem.acquire, sem.release)


def _native(cleanup: list[Callable[[], None]]) -> tuple[Loop, Loop]:
    mq = unixipc.MessageQueue(create=True)
    cleanup.append(mq.remove)
    sems = unixipc.SemaphoreSet(None, 1, create=True, initial=1)
    cleanup.append(sems.remove)
    sem = sems[0]

    def acquire_release(k: int) -> None:  # undo=False, as the package's default
        acquire, release = sem.acquire, sem.release
        for _ in range(k):
            acquire(undo=False)
            release(undo=False)
    return pair_loop(mq.send, mq.receive, DATA), acquire_release


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations")
    parser.add_argument("--rounds", type=int, default=5, help="best of this many runs (5)")
    args = parser.parse_args()
    n = 20000 if args.quick else 200000
    loops: dict[str, tuple[Loop, Loop]] = {}
    cleanup: list[Callable[[], None]] = []
    try:
        try:
            import sysv_ipc
        except ImportError:
            print("sysv_ipc is not installed (pip install -e '.[bench]'): measuring without it")
        else:
            loops["sysv_ipc 1.2.0 (real)"] = _sysv_style(sysv_ipc, cleanup)
        loops["unixipc.compat.sysv_ipc"] = _sysv_style(shim, cleanup)
        loops["unixipc native"] = _native(cleanup)
        best = interleaved_best(loops, n, args.rounds)
    finally:
        for remove in cleanup:
            remove()
    print_ratios(best, ["send+receive 64 B", "acquire+release"], "sysv_ipc 1.2.0 (real)",
                 f"ns per pair, best of {args.rounds} x {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
