"""Timing, statistics and the ratio table shared by every benchmark.

A *result* is one measured figure of one implementation ("unixipc", "C",
"sysv_ipc", ...) on one workload ("msg round trip 64 B"). Figures are kept in
their natural unit: seconds per operation for latencies, operations per
second for throughput; ``Result.better`` says which direction wins.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

__all__ = ["Result", "time_per_op", "interleaved_best", "print_ratios", "latency_stats",
           "print_table", "build_c", "run_c", "to_json"]


@dataclass(frozen=True, slots=True)
class Result:
    """One figure: ``value`` in ``unit`` for ``impl`` on ``workload``."""

    workload: str
    impl: str
    value: float
    unit: str  # "us" (per op) or "%" (CPU): lower is better; "msg/s", "MB/s": higher is better
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def lower_is_better(self) -> bool:
        return self.unit in ("us", "ns", "s", "%")


def time_per_op(fn: Callable[[int], None], count: int, repeat: int = 5) -> float:
    """Best of ``repeat`` runs of ``fn(count)``, in seconds per operation."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(count)
        best = min(best, (time.perf_counter() - t0) / count)
    return best


_NO_ARG = object()


def pair_loop(first: Callable[..., Any], second: Callable[[], Any],
              arg: Any = _NO_ARG) -> Callable[[int], None]:
    """A loop for :func:`interleaved_best`: ``k`` times ``first(arg)`` (or
    ``first()``) then ``second()``: a send and a receive, an acquire and a
    release. Both are plain calls of local names, as a user's hot loop
    makes them (a ``first(*args)`` call would cost a Python-level callable
    more than a C one)."""
    if arg is _NO_ARG:
        def loop(k: int) -> None:
            a, b = first, second
            for _ in range(k):
                a()
                b()
    else:
        def loop(k: int) -> None:
            a, b, x = first, second, arg
            for _ in range(k):
                a(x)
                b()
    return loop


def interleaved_best(loops: Mapping[str, Sequence[Callable[[int], None]]], count: int,
                     rounds: int = 5) -> dict[str, list[float]]:
    """Nanoseconds per call of each loop ``fn(count)`` of each
    implementation, the best of ``rounds``. The rounds interleave the
    implementations, so a noisy moment of a shared machine does not fall
    on one of them only."""
    best = {name: [float("inf")] * len(fns) for name, fns in loops.items()}
    for _ in range(rounds):
        for name, fns in loops.items():
            for i, fn in enumerate(fns):
                start = time.perf_counter_ns()
                fn(count)
                best[name][i] = min(best[name][i], (time.perf_counter_ns() - start) / count)
    return best


def print_ratios(best: Mapping[str, Sequence[float]], columns: Sequence[str], reference: str,
                 note: str, file: TextIO | None = None) -> None:
    """One row per implementation of :func:`interleaved_best`'s figures,
    each with its ratios to ``reference``'s row (below 1: faster)."""
    out = file or sys.stdout
    wide = max([26] + [len(name) for name in best])
    print(f"{'':{wide}}" + "".join(f" {c:>20}" for c in columns) + f"   ({note})", file=out)
    base = best.get(reference)
    for name, figures in best.items():
        ratio = ""
        if base:
            ratio = "   " + " / ".join(f"x{v / b:.2f}" for v, b in zip(figures, base)) + \
                f" of {reference}"
        print(f"{name:{wide}}" + "".join(f" {v:20.0f}" for v in figures) + ratio, file=out)


def latency_stats(samples: Sequence[float]) -> dict[str, float]:
    """Median and 99th percentile of per-operation samples (seconds) in us."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"median_us": statistics.median(ordered) * 1e6, "p99_us": p99 * 1e6}


def print_table(results: Iterable[Result], reference: str = "C",
                subject: str | None = "unixipc", file: TextIO | None = None) -> None:
    """Print results grouped by workload, with each impl's ratio against
    ``reference`` and (unless None) ``subject``: value / their value, so for
    latencies ("us") below 1 is faster, for rates above 1 is faster."""
    out = file or sys.stdout
    by_workload: dict[str, list[Result]] = {}
    for r in results:
        by_workload.setdefault(r.workload, []).append(r)
    columns = [reference] + ([subject] if subject and subject != reference else [])
    wide = max([34] + [len(w) for w in by_workload])
    header = f"{'workload':{wide}} {'impl':22} {'value':>12} {'unit':6} {'p99':>10}" + "".join(
        f" {'vs ' + c:>12}" for c in columns)
    print(header, file=out)
    print("-" * len(header), file=out)
    for workload, rows in by_workload.items():
        bases = [next((r for r in rows if r.impl == c), None) for c in columns]
        for r in rows:
            ratios = "".join(f" {r.value / b.value:11.2f}x" if b and b.value else f" {'-':>12}"
                             for b in bases)
            p99 = r.extra.get("p99_us")
            p99_text = f"{p99:10.3f}" if p99 is not None else f"{'':10}"
            print(f"{workload:{wide}} {r.impl:22} {r.value:12.3f} {r.unit:6} {p99_text}{ratios}",
                  file=out)
    print(file=out)
    print("value: the median for 'us' rows (p99: their 99th percentile, us); "
          "ratio = value / reference's value:", file=out)
    print("for 'us' lower is better, for rates higher is better.", file=out)


def to_json(results: Iterable[Result]) -> str:
    return json.dumps([asdict(r) for r in results], indent=2)


def build_c(source: Path, outdir: Path | None = None) -> Path | None:
    """Compile a C baseline with -O2; None when no compiler is available."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    outdir = outdir or Path(os.environ.get("TMPDIR", "/tmp")) / "unixipc-bench"
    outdir.mkdir(parents=True, exist_ok=True)
    exe = outdir / source.stem
    if not exe.exists() or exe.stat().st_mtime < source.stat().st_mtime:
        subprocess.run([cc, "-O2", "-o", str(exe), str(source), "-lrt"], check=True)
    return exe


def run_c(exe: Path, *args: str, timeout: float = 300) -> list[dict[str, float | str]]:
    """Run a C baseline that prints one JSON object per line; return them."""
    out = subprocess.run([str(exe), *args], capture_output=True, text=True, check=True,
                         timeout=timeout).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]
