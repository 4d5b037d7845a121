"""System V message queues: unixipc vs sysv_ipc vs C, ratios in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/msgqueue.py [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from unixipc.bench import harness, twoproc
from unixipc.bench.msgqueue import (batch_results, pair_results, sysv_ipc_transport,
                                    unixipc_transport)

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    trips, oneway, pairs = int(20000 * scale), int(200000 * scale), int(200000 * scale)

    results: list[harness.Result] = []
    exe = harness.build_c(HERE / "c" / "msg_bench.c")
    transports = [unixipc_transport()]
    try:
        transports.append(sysv_ipc_transport())
    except ImportError:
        print("sysv_ipc not installed: pip install -e '.[bench]'")

    for size in (64,):
        results += pair_results(size, pairs)
        if exe:
            results += [harness.Result(r["workload"], "C", r["value"], r["unit"])
                        for r in harness.run_c(exe, "pair", str(pairs), str(size))]
    for t in transports:
        results.append(twoproc.round_trip(t, 64, trips))
    if exe:
        results += [harness.Result(r["workload"], "C", r["value"], r["unit"])
                    for r in harness.run_c(exe, "rtt", str(trips), "64")]
    for size in (64, 4096, 8192):
        for t in transports:
            results += [r for r in twoproc.one_way(t, size, oneway) if r.unit == "msg/s"]
        if exe:
            results += [harness.Result(r["workload"], "C", r["value"], r["unit"])
                        for r in harness.run_c(exe, "oneway", str(oneway), str(size))]
    results += batch_results(64, oneway)
    harness.print_table(results, reference="C", subject="unixipc")


if __name__ == "__main__":
    main()
