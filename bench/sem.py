"""Semaphores and shared memory: unixipc vs sysv_ipc vs C, ratios in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/sem.py [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from unixipc.bench import harness
from unixipc.bench.sem import pair_results, pingpong_results, shm_results

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    pairs, trips, blocks = int(500_000 * scale), int(100_000 * scale), int(2000 * scale)
    exe = harness.build_c(HERE / "c" / "sem_bench.c")

    def c(*argv: str) -> list[harness.Result]:
        if exe is None:
            return []
        return [harness.Result(r["workload"], "C", r["value"], r["unit"])  # type: ignore[arg-type]
                for r in harness.run_c(exe, *argv)]

    results = pair_results(pairs) + c("pair", str(pairs))
    results += pingpong_results(trips) + c("pingpong", str(trips))
    results += shm_results(1 << 20, blocks) + c("shm", str(blocks), str(1 << 20))
    harness.print_table(results, reference="C", subject="unixipc")


if __name__ == "__main__":
    main()
