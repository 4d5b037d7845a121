"""The sysv_ipc sdist, fetched at test time (never committed: its code is
not ours to copy), and running its unittest suite with ``sysv_ipc``
resolved to the real package or to our shim.

The sdist is downloaded once with ``pip download --no-binary :all:
--no-deps`` into build/compat-sdists/ (ignored by git) and checked against
its published sha256. A download that fails is a test failure that says
why, never a skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "compat-sdists"
SYSV_IPC = "sysv_ipc==1.2.0"
SYSV_IPC_SDIST = "sysv_ipc-1.2.0.tar.gz"
SYSV_IPC_SHA256 = "ef96ab33bb62e4d14142f0be0524dcc0c3c70c96442df2fc773c67b7c7514199"

#: What the test suite's `import sysv_ipc` finds when the shim stands in:
#: our module, plus the dunder names the suite checks (not in `import *`).
SHIM_SOURCE = textwrap.dedent("""\
    from unixipc.compat.sysv_ipc import *
    from unixipc.compat.sysv_ipc import __version__, __author__, __license__, __copyright__
    """)

#: Runs a unittest discovery and writes {test id: [outcome, detail]} as JSON.
RUNNER_SOURCE = textwrap.dedent("""\
    import json, sys, unittest
    root, out = sys.argv[1], sys.argv[2]
    outcomes = {}
    class Result(unittest.TestResult):
        def addSuccess(self, test):
            super().addSuccess(test); outcomes[test.id()] = ["passed", ""]
        def addFailure(self, test, err):
            super().addFailure(test, err)
            outcomes[test.id()] = ["failed", self._exc_info_to_string(err, test)]
        def addError(self, test, err):
            super().addError(test, err)
            outcomes[test.id()] = ["error", self._exc_info_to_string(err, test)]
        def addSkip(self, test, reason):
            super().addSkip(test, reason); outcomes[test.id()] = ["skipped", reason]
        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err); outcomes[test.id()] = ["xfail", ""]
        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test); outcomes[test.id()] = ["xpass", ""]
    import sysv_ipc
    suite = unittest.defaultTestLoader.discover("tests", top_level_dir=root)
    suite.run(Result())
    with open(out, "w") as f:
        json.dump({"module": sysv_ipc.__file__, "outcomes": outcomes}, f)
    """)


def plain_env() -> dict[str, str]:
    """The environment for a child that does not load unixipc (pip, the
    real package's runs, the demos' C programs): without the sanitizer
    leg's LD_PRELOAD, so a report can only come from our own code."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("PYTHONPATH", None)
    return env


def sdist(name: str = SYSV_IPC, filename: str = SYSV_IPC_SDIST,
          sha256: str = SYSV_IPC_SHA256) -> Path:
    """The sdist's path, downloaded on first use; pytest.fail if impossible."""
    path = CACHE / filename
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                 "--disable-pip-version-check", name, "-d", str(CACHE)],
                capture_output=True, text=True, timeout=300, env=plain_env())
        except subprocess.TimeoutExpired:
            pytest.fail(f"pip download {name} took over 300 s: the package index is not "
                        "reachable, and the compatibility proof needs the sdist")
        if done.returncode != 0 or not path.exists():
            pytest.fail(f"pip download {name} failed (exit {done.returncode}); the "
                        f"compatibility proof needs the sdist:\n{done.stdout}\n{done.stderr}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        path.unlink()
        pytest.fail(f"{filename} has sha256 {digest}, not the published {sha256}")
    return path


def unpack(archive: Path, into: Path) -> Path:
    """Unpack the sdist into ``into``; its top directory."""
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        for member in members:
            if member.name.startswith("/") or ".." in Path(member.name).parts:
                raise AssertionError(f"unsafe path in {archive.name}: {member.name}")
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(into, members=members, **safe)  # type: ignore[arg-type]
    (top,) = [p for p in into.iterdir() if p.is_dir()]
    return top


def shim_dir(into: Path) -> Path:
    """A directory holding a ``sysv_ipc.py`` that is our shim."""
    into.mkdir(parents=True, exist_ok=True)
    (into / "sysv_ipc.py").write_text(SHIM_SOURCE)
    return into


def run_suite(top: Path, work: Path, *, shim: Path | None,
              timeout: float = 240) -> tuple[str, dict[str, list[str]]]:
    """Run the sdist's tests/ in a subprocess; ``(sysv_ipc's file, outcomes)``.

    With ``shim``, that directory comes first on the path, so ``import
    sysv_ipc`` finds our module; without it, the installed package.
    """
    work.mkdir(parents=True, exist_ok=True)
    runner = work / "run_suite.py"
    runner.write_text(RUNNER_SOURCE)
    out = work / "outcomes.json"
    env = plain_env()
    if shim is not None:
        env = dict(os.environ, PYTHONPATH=str(shim))
    done = subprocess.run([sys.executable, str(runner), str(top), str(out)], cwd=top, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"the suite's runner failed:\n{done.stdout}\n{done.stderr}"
    result = json.loads(out.read_text())
    return result["module"], result["outcomes"]
