"""A plain (non-editable) ``pip install .`` builds the C core and works.

A copy of the source tree (the files a fresh checkout has) is installed with
``pip install --no-deps --target`` and then used by an interpreter started
with ``-S``: no site-packages at all, so the installed package runs with
nothing but the standard library (zero runtime dependencies).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import pathlib, sys, unixipc
from unixipc import _core
site = pathlib.Path(sys.argv[1]).resolve()
assert pathlib.Path(unixipc.__file__).resolve().is_relative_to(site), unixipc.__file__
assert pathlib.Path(_core.__file__).resolve().is_relative_to(site), _core.__file__
pkg = pathlib.Path(unixipc.__file__).parent
assert (pkg / "py.typed").exists() and (pkg / "_core.pyi").exists()
with unixipc.MessageQueue(create=True) as mq:
    mq.send(b"installed", 2**63 - 1)
    print(tuple(mq.receive()))
"""


def test_plain_pip_install_builds_and_runs(tmp_path):
    src = tmp_path / "src"
    # .venv-*: .ci/run's other legs' venvs (.venv-asan, .venv-3.X), ~1 GB
    # together by the time the main leg gets here, none of it the project's
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".venv-*", "build", "dist", "*.egg-info", "*.so", "__pycache__",
        ".pytest_cache", ".mypy_cache", "bench", "tests", "docs"))
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-input", "--target", str(target), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run = subprocess.run([sys.executable, "-S", "-c", CHECK, str(target)], cwd=tmp_path,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "(9223372036854775807, b'installed')"
