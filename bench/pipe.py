"""Pipes and FIFOs: unixipc vs raw os.read/os.write vs multiprocessing.Pipe
vs C, in one run.

    .venv/bin/python bench/pipe.py [--quick]

Round trip of 64 B (median, us) and one-way throughput of 4 KiB and 64 KiB
messages between a parent and a forked child, plus the per-write cost of
unixipc's SIGPIPE safety measured in one process. The target is unixipc's
pipe within 1.1x of the raw os calls.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from unixipc.bench import harness, twoproc
from unixipc.bench.pipe import (os_fifo_transport, unixipc_fifo_transport,
                                unixipc_pipe_transport, write_path_costs)
from unixipc.bench.transports import mp_pipe_transport, os_pipe_transport

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (noisier)")
    args = parser.parse_args()
    trips = 2000 if args.quick else 10000
    transports = [unixipc_pipe_transport(), os_pipe_transport(), mp_pipe_transport(),
                  unixipc_fifo_transport(), os_fifo_transport()]
    results: list[harness.Result] = []
    exe = harness.build_c(HERE / "c" / "pipe_bench.c")
    c_rows = []
    if exe is not None:
        with tempfile.TemporaryDirectory() as tmp:
            c_rows = harness.run_c(exe, tmp, str(trips))
    by_name: dict[str, list[harness.Result]] = {}
    for row in c_rows:
        extra = {k: float(v) for k, v in row.items() if k.endswith("_us")}
        r = harness.Result(str(row["workload"]), "C", float(row["value"]), str(row["unit"]),
                           extra)
        by_name.setdefault(r.workload, []).append(r)
    for t in transports:
        print(f"  measuring {t.name} ({t.impl})...", file=sys.stderr)
        r = twoproc.round_trip(t, 64, trips)
        by_name.setdefault(r.workload, []).append(r)
        for size, count in ((4096, trips * 4), (65536, trips)):
            for r in twoproc.one_way(t, size, count):
                by_name.setdefault(r.workload, []).append(r)
    for rows in by_name.values():
        results.extend(rows)
    results.extend(write_path_costs(64, 50_000 if args.quick else 200_000))
    harness.print_table(results, reference="C", subject="unixipc")
    print("\nratio vs os.read/os.write (the 1.1x target):")
    for name, rows in by_name.items():
        raw = next((r for r in rows if r.impl == "os.read/os.write"), None)
        ours = next((r for r in rows if r.impl == "unixipc"), None)
        if raw and ours:
            ratio = ours.value / raw.value if ours.lower_is_better else raw.value / ours.value
            print(f"  {name:34} unixipc costs {ratio:5.2f}x the raw os calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
