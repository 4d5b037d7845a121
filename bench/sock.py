"""Benchmark: MessageChannel vs raw sockets, pyzmq PAIR, multiprocessing and C.

    .venv/bin/python bench/sock.py [scale]

Prints one table (ratios against C and against unixipc). pyzmq PAIR over
ipc:// and tcp:// is included when pyzmq is installed (UNIXIPC_BENCH_ZMQ=0
leaves it out)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from unixipc.bench import harness
from unixipc.bench.sock import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale", nargs="?", type=float, default=1.0,
                        help="multiplies every workload's iteration count (default 1.0)")
    scale = parser.parse_args().scale
    results = []
    # a private build directory (/tmp/unixipc-bench is shared by other
    # runs), removed afterwards
    with tempfile.TemporaryDirectory(prefix="unixipc-sock-bench-") as build:
        exe = harness.build_c(Path(__file__).parent / "c" / "sock_bench.c", Path(build))
        if exe is not None:
            for row in harness.run_c(exe, str(scale)):
                results.append(harness.Result(str(row["workload"]), "C", float(row["value"]),
                                              str(row["unit"])))
    results += run(peers=True, scale=scale)
    results.sort(key=lambda r: r.workload)
    harness.print_table(results, reference="C", subject="unixipc")


if __name__ == "__main__":
    main()
