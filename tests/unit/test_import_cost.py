"""`import unixipc` stays light: asyncio (and what it drags in: ssl,
concurrent.futures, logging) is imported by the first async call only
(bench/importtime.py measures the cost)."""

from __future__ import annotations

import subprocess
import sys

LAZY = ("asyncio", "concurrent.futures", "ssl", "logging")


def _imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {LAZY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_importing_the_package_does_not_import_asyncio():
    assert _imported_after("import unixipc, unixipc.sockets, unixipc.netdb") == set()

