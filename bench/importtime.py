"""What `import unixipc` costs: `python -X importtime -c "import unixipc"`.

    .venv/bin/python bench/importtime.py [--runs N] [--src DIR] [--top K]

Runs the import in N fresh interpreters (default 15) and prints the median
cumulative time of `unixipc` and of each of its direct submodules, the
heaviest other modules it pulls in, and whether asyncio (or any other
listed heavy module) was imported. `--src DIR` measures another tree's
package (its src/, with the C core built in place, e.g. another worktree)
with this interpreter, for a before/after comparison in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections import defaultdict

HEAVY = ("asyncio", "concurrent.futures", "ssl", "multiprocessing", "logging", "numpy")
PROBE = ("import sys, unixipc; print(' '.join(m for m in %r if m in sys.modules))" % (HEAVY,))


def one_run(env: dict[str, str]) -> tuple[dict[str, int], dict[str, int], str]:
    """Cumulative and self microseconds per module, and the heavy modules seen."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", PROBE], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    cumulative: dict[str, int] = {}
    own: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|")
        cumulative[name.strip()] = int(cum_us)
        own[name.strip()] = int(self_us)
    return cumulative, own, done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--src", help="a src/ directory to import unixipc from")
    parser.add_argument("--top", type=int, default=8, help="heaviest other modules shown")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = os.path.abspath(args.src)
    cum: defaultdict[str, list[int]] = defaultdict(list)
    own: defaultdict[str, list[int]] = defaultdict(list)
    heavy = ""
    for _ in range(args.runs):
        c, s, heavy = one_run(env)
        for name, us in c.items():
            cum[name].append(us)
        for name, us in s.items():
            own[name].append(us)
    med = {name: statistics.median(v) for name, v in cum.items()}
    where = subprocess.run([sys.executable, "-c", "import unixipc; print(unixipc.__file__)"],
                           env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    print(f"import unixipc ({where}), median of {args.runs} fresh interpreters")
    print(f"  unixipc total            {med['unixipc'] / 1000:7.1f} ms")
    subs = sorted((n for n in med if n.startswith("unixipc.") and n.count(".") == 1),
                  key=lambda n: -med[n])
    for name in subs:
        print(f"    {name:<22} {med[name] / 1000:7.1f} ms (cumulative)")
    others = sorted((n for n in med if not n.startswith("unixipc")),
                    key=lambda n: -statistics.median(own[n]))[:args.top]
    print("  heaviest others (own time): " +
          ", ".join(f"{n} {statistics.median(own[n]) / 1000:.1f} ms" for n in others))
    print(f"  heavy modules imported: {heavy or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
