"""Benchmark POSIX message queues and named semaphores: unixipc, posix_ipc,
C and unixipc's System V queue and semaphore, in one run.

    .venv/bin/pip install -e '.[test]'     # posix_ipc comes with the test extra
    .venv/bin/python bench/posix.py [--quick] [--json] [--rounds N]

Workloads (see unixipc.bench.posix): 64-byte queue round trip between two
processes; one-way throughput for 64 B and 4 KiB; a send+receive pair in one
process; a named semaphore's acquire+release pair in one process and its
ping-pong between two. The C baseline is bench/c/posix_bench.c. Every figure
is the best of ``--rounds`` runs (the machine is shared); read the ratios.
Every queue and semaphore is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from unixipc.bench import harness, twoproc
from unixipc.bench.posix import (QueueImpl, SemImpl, mq_one_way, mq_pair, mq_round_trip,
                                 posix_ipc_queue, posix_ipc_sem, python_pair_floor, sem_pair,
                                 sem_pingpong, sysv_queue_results, sysv_sem, unixipc_queue,
                                 unixipc_sem)

HERE = Path(__file__).resolve().parent

#: The targets (issue 12): (workload, subject, reference, bound, op) on
#: subject value / reference value; for "us" lower is better, for msg/s
#: higher is better (the bound is then a floor).
TARGETS = [
    ("mq round trip 64 B", "unixipc", "C", 1.1, "<="),
    ("mq in-process pair 64 B", "unixipc", "C", 1.2, "<="),
    ("mq in-process pair 64 B", "unixipc", "posix_ipc", 1.0, "<="),
    ("mq one-way 64 B", "unixipc", "posix_ipc", 1.0, ">="),
    ("mq one-way 4096 B", "unixipc", "posix_ipc", 1.0, ">="),
    ("psem ping-pong round trip", "unixipc", "C", 1.1, "<="),
    ("psem acquire+release in one process", "unixipc", "C", 1.2, "<="),
    ("psem acquire+release in one process", "unixipc", "posix_ipc", 1.0, "<="),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs (3)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    trips, msgs, pairs = 20000 // scale, 200000 // scale, 200000 // scale

    queues: list[QueueImpl] = [unixipc_queue()]
    sems: list[SemImpl] = [unixipc_sem()]
    try:
        queues.append(posix_ipc_queue())
        sems.append(posix_ipc_sem())
    except ImportError:
        print("posix_ipc is not installed: skipped", file=sys.stderr)
    sems.append(sysv_sem())

    best: dict[tuple[str, str], harness.Result] = {}

    def keep(r: harness.Result) -> None:
        old = best.get((r.workload, r.impl))
        if old is None or (r.value < old.value if r.lower_is_better else r.value > old.value):
            best[(r.workload, r.impl)] = r

    exe = harness.build_c(HERE / "c" / "posix_bench.c")
    if exe is None:
        print("no C compiler: the C baseline is skipped", file=sys.stderr)
    all_cpus = sorted(os.sched_getaffinity(0))
    for _ in range(args.rounds):
        # The C baseline pins its own two processes; the Python parent and
        # its children run on CPUs of their own the same way (a wake-up
        # across CPUs each time, not whatever the scheduler chose).
        twoproc.pin_off()
        if exe is not None:
            for row in harness.run_c(exe, str(trips), str(msgs), str(pairs)):
                keep(harness.Result(str(row["workload"]), "C", float(row["value"]),
                                    str(row["unit"])))
        if len(all_cpus) >= 2:
            twoproc.pin(all_cpus[0], all_cpus[1])
        for q in queues:
            keep(mq_round_trip(q, 64, trips))
            keep(mq_one_way(q, 64, msgs))
            keep(mq_one_way(q, 4096, msgs // 4))
            keep(mq_pair(q, pairs))
        for r in sysv_queue_results(trips, msgs, pairs):
            keep(r)
        for s in sems:
            keep(sem_pair(s, pairs * 5))
            keep(sem_pingpong(s, trips * 5))
        keep(python_pair_floor(pairs * 5))
    results = list(best.values())
    order = {w: i for i, w in enumerate(dict.fromkeys(r.workload for r in results))}
    results.sort(key=lambda r: order[r.workload])
    if args.json:
        print(harness.to_json(results))
    else:
        harness.print_table(results, reference="C", subject="unixipc")
        print_ratios(best)
    return 0


def print_ratios(best: dict[tuple[str, str], harness.Result]) -> None:
    refs = ("C", "posix_ipc", "unixipc System V")
    print()
    print(f"{'workload':38}" + "".join(f" {'unixipc/' + r:>26}" for r in refs))
    for workload in dict.fromkeys(w for w, _ in best):
        mine = best.get((workload, "unixipc"))
        if mine is None:
            continue
        cells = []
        for ref in refs:
            other = best.get((workload, ref))
            cells.append(f"{mine.value / other.value:.2f}x" if other and other.value else "-")
        print(f"{workload:38}" + "".join(f" {c:>26}" for c in cells))
    print()
    for workload, subject, ref, bound, op in TARGETS:
        mine, other = best.get((workload, subject)), best.get((workload, ref))
        if mine is None or other is None or not other.value:
            print(f"target {workload}: {subject}/{ref} {op} {bound}: not measured")
            continue
        ratio = mine.value / other.value
        met = ratio <= bound if op == "<=" else ratio >= bound
        print(f"target {workload}: {subject}/{ref} = {ratio:.2f}x, wanted {op} {bound}x: "
              f"{'met' if met else 'MISSED'}")


if __name__ == "__main__":
    raise SystemExit(main())
