"""The type information shipped with the package is checked, not hoped for:
mypy --strict over src/ and stubtest of the C module's stub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent



def test_mypy_strict_on_sources():
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_core_stub_matches_the_extension():
    # The allowlist names what exists at runtime only on newer Pythons
    # (__buffer__ comes from the C buffer slots on 3.12+). There it would be
    # an unused entry, which stubtest reports as an error.
    allowlist = (["--allowlist", str(ROOT / "tests" / "stubtest-allowlist.txt")]
                 if sys.version_info < (3, 12) else [])
    done = subprocess.run([sys.executable, "-m", "mypy.stubtest", "unixipc._core", *allowlist],
                          cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
