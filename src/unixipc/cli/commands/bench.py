"""unixipc bench: measure every mechanism between two real processes."""

from __future__ import annotations

import argparse
from typing import Any

from ..environment import Environment
from ..exitcodes import ExitStatus

HELP = "measure round trip and throughput of every mechanism between two processes"
DESCRIPTION = """\
Measure each mechanism between two real processes (a parent and a forked
child): the round trip of a message (median and 99th percentile, in
microseconds) and one-way throughput (messages/s and MB/s) for each size.
With --peers, the same workloads run over multiprocessing, sysv_ipc, pyzmq
and faster-fifo when they are installed (pip install 'unixipc[bench]'), so ratios come from
one run on one machine."""
EPILOG = """\
examples:
  unixipc bench                           every mechanism, default sizes
  unixipc bench --only pipe --json        figures for scripts
  unixipc bench --sizes 64,65536 --peers  compare with peer libraries
  unixipc bench --plot bench.png          a bar chart (needs unixipc[plot])"""


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of sizes: {text!r}")
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive byte counts")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ...bench import MECHANISMS

    parser.add_argument("--only", action="append", metavar="MECHANISM", choices=MECHANISMS,
                        help="measure only this mechanism (repeatable): " + ", ".join(MECHANISMS))
    parser.add_argument("--sizes", type=_sizes, default=[64, 4096, 65536],
                        help="message sizes in bytes, comma-separated (default 64,4096,65536)")
    parser.add_argument("--count", type=int, default=None,
                        help="messages per measurement (default: about 0.2 s worth)")
    parser.add_argument("--peers", action="store_true",
                        help="also measure peer libraries that are installed")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="draw a bar chart (matplotlib)")


def run(args: argparse.Namespace, env: Environment) -> int:
    from ...bench import harness, twoproc
    from ...bench.transports import REGISTRY, collect

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            env.err("unixipc bench: --plot needs matplotlib: pip install 'unixipc[plot]'")
            return ExitStatus.ERROR
    mechanisms = [m for m in REGISTRY if not args.only or m in args.only]
    plan = []
    for mech in mechanisms:
        for transport in collect(mech, peers=args.peers):
            if transport.max_size == 0:
                plan.append((transport, 0))  # carries no data: measured once
                continue
            for size in args.sizes:
                if transport.max_size is None or size <= transport.max_size:
                    plan.append((transport, size))
    results: list[harness.Result] = []
    progress = _Progress(env, len(plan))
    try:
        for transport, size in plan:
            progress.step(f"{transport.name} {size} B ({transport.impl})")
            trips = args.count or max(200, min(5000, 2_000_000 // (size + 400)))
            results.append(twoproc.round_trip(transport, size, trips))
            results.extend(twoproc.one_way(transport, size, trips * 4))
    finally:
        progress.done()  # the bar is erased, also on Ctrl-C
    if args.json:
        env.out(harness.to_json(results))
    else:
        harness.print_table(results, reference=_reference(results), subject=None,
                              file=env.stdout)
    if args.plot:
        _plot(results, args.plot)
        env.err(f"unixipc bench: chart written to {args.plot}")
    return ExitStatus.SUCCESS


def _reference(results: list[Any]) -> str:
    """Ratios are against unixipc when it was measured, else the first impl."""
    impls = [r.impl for r in results]
    return "unixipc" if "unixipc" in impls else (impls[0] if impls else "unixipc")


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, env: Environment, total: int) -> None:
        self.env, self.total, self.count = env, total, 0
        self.active = bool(getattr(env.stderr, "isatty", lambda: False)()) and total > 0

    def step(self, label: str) -> None:
        self.count += 1
        if self.active:
            width = 24
            filled = width * (self.count - 1) // self.total
            bar = "#" * filled + "." * (width - filled)
            self.env.stderr.write(f"\r[{bar}] {self.count}/{self.total} {label:48.48}")
            self.env.stderr.flush()

    def done(self) -> None:
        if self.active:
            self.env.stderr.write("\r" + " " * 90 + "\r")
            self.env.stderr.flush()


#: One colour per implementation, whatever else a run measured: the same
#: implementation has the same colour in every chart.
IMPL_COLOURS = {
    "unixipc": "#4477aa",
    "os.read/os.write": "#777777", "socket": "#aaaaaa",
    "multiprocessing": "#ee6677", "multiprocessing.Pipe": "#cc3311",
    "multiprocessing.Queue": "#ee3377", "multiprocessing.SimpleQueue": "#aa3377",
    "sysv_ipc": "#228833", "pyzmq ipc": "#ccbb44", "pyzmq tcp": "#ee7733",
    "faster-fifo": "#66ccee",
}
_SPARE = ["#332288", "#117733", "#44aa99", "#882255", "#999933", "#dddddd"]


def impl_colours(impls: list[str]) -> dict[str, str]:
    """A colour for each implementation: its own from IMPL_COLOURS, else a
    spare one, given in name order (so also stable between runs)."""
    out = {impl: IMPL_COLOURS[impl] for impl in impls if impl in IMPL_COLOURS}
    unknown = sorted(set(impls) - set(out))
    for n, impl in enumerate(unknown):
        out[impl] = _SPARE[n % len(_SPARE)]
    return out


def _plot(results: list[Any], path: str) -> None:
    """Two panels of horizontal bars, one colour per implementation: round
    trips (median, with the p99 as a tick; lower is better) and one-way
    throughput (messages/s; higher is better)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    trips = [r for r in results if r.unit == "us"]
    rates = [r for r in results if r.unit == "msg/s"]
    impls = list(dict.fromkeys(r.impl for r in results))
    colour = impl_colours(impls)
    height = 1.5 + 0.24 * max(len(trips), len(rates), 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, height))
    for ax, rows, label in ((left, trips, " round trip"), (right, rates, " one-way")):
        ys = list(range(len(rows)))[::-1]  # first result at the top
        ax.barh(ys, [r.value for r in rows], color=[colour[r.impl] for r in rows])
        ax.set_yticks(ys, [f"{r.workload.replace(label, '')} ({r.impl})" for r in rows],
                      fontsize=7)
        if rows is trips:
            ax.scatter([r.extra.get("p99_us", r.value) for r in rows], ys, marker="|", s=60,
                       color="black", label="p99")
    left.set_xlabel("round trip between two processes, median (us); lower is better")
    right.set_xlabel("one-way throughput (messages/s); higher is better")
    handles, _ = left.get_legend_handles_labels()
    handles += [Patch(color=colour[impl], label=impl) for impl in impls]
    right.legend(handles=handles, fontsize=7, loc="lower right")
    fig.suptitle("unixipc bench")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
