"""The sdists of the packages our compatibility layers stand in for
(sysv_ipc, posix_ipc), fetched at test time (never committed: their code is
not ours to copy), and running a package's unittest suite with its module
resolved to the real package or to our shim.

Each sdist is downloaded once with ``pip download --no-binary :all:
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
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "compat-sdists"


@dataclass(frozen=True)
class Package:
    """A package a compatibility layer stands in for, and its sdist."""

    module: str  #: its import name, and our shim's: unixipc.compat.<module>
    version: str
    sha256: str  #: the published sha256 of its sdist

    @property
    def requirement(self) -> str:
        return f"{self.module}=={self.version}"

    @property
    def filename(self) -> str:
        return f"{self.module}-{self.version}.tar.gz"

    @property
    def shim_source(self) -> str:
        """What the test suite's `import <module>` finds when the shim
        stands in: our module, plus the dunder names the suites check
        (not in `import *`)."""
        return textwrap.dedent(f"""\
            from unixipc.compat.{self.module} import *
            from unixipc.compat.{self.module} import (__version__, __author__, __license__,
                                                      __copyright__)
            """)


SYSV_IPC = Package("sysv_ipc", "1.2.0",
                   "ef96ab33bb62e4d14142f0be0524dcc0c3c70c96442df2fc773c67b7c7514199")
POSIX_IPC = Package("posix_ipc", "1.3.2",
                    "6923232111329954a8349f7d99f212b6e96b5206e77fbd39aaf1b3cb4a5e9260")

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
    module = __import__(sys.argv[3])
    suite = unittest.defaultTestLoader.discover("tests", top_level_dir=root)
    suite.run(Result())
    with open(out, "w") as f:
        json.dump({"module": module.__file__, "outcomes": outcomes}, f)
    """)


def plain_env() -> dict[str, str]:
    """The environment for a child that does not load unixipc (pip, the
    real package's runs, the demos' C programs): without the sanitizer
    leg's LD_PRELOAD, so a report can only come from our own code."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("PYTHONPATH", None)
    return env


def shim_env(shim: Path) -> dict[str, str]:
    """The environment for a child in which ``import <module>`` finds our
    shim: its directory first on the path, then any the caller had (so a
    run from an uninstalled tree, PYTHONPATH=src, still finds unixipc)."""
    path = os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path)


def sdist(package: Package = SYSV_IPC) -> Path:
    """The sdist's path, downloaded on first use; pytest.fail if impossible."""
    name, filename, sha256 = package.requirement, package.filename, package.sha256
    path = CACHE / filename
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        # into a directory of this process's own, then renamed into place:
        # test runs side by side (.ci/run's lanes) never see half a file
        with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--no-binary", ":all:",
                     "--no-deps", "--disable-pip-version-check", name, "-d", scratch],
                    capture_output=True, text=True, timeout=300, env=plain_env())
            except subprocess.TimeoutExpired:
                pytest.fail(f"pip download {name} took over 300 s: the package index is not "
                            "reachable, and the compatibility proof needs the sdist")
            got = Path(scratch) / filename
            if done.returncode != 0 or not got.exists():
                pytest.fail(f"pip download {name} failed (exit {done.returncode}); the "
                            f"compatibility proof needs the sdist:\n{done.stdout}\n"
                            f"{done.stderr}")
            os.replace(got, path)
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


def shim_dir(into: Path, package: Package = SYSV_IPC) -> Path:
    """A directory holding a ``<module>.py`` that is our shim."""
    into.mkdir(parents=True, exist_ok=True)
    (into / f"{package.module}.py").write_text(package.shim_source)
    return into


def run_suite(top: Path, work: Path, *, shim: Path | None, package: Package = SYSV_IPC,
              timeout: float = 240) -> tuple[str, dict[str, list[str]]]:
    """Run the sdist's tests/ in a subprocess; ``(the module's file, outcomes)``.

    With ``shim``, that directory comes first on the path, so ``import
    <module>`` finds our module; without it, the installed package.
    """
    work.mkdir(parents=True, exist_ok=True)
    runner = work / "run_suite.py"
    runner.write_text(RUNNER_SOURCE)
    out = work / "outcomes.json"
    env = plain_env()
    if shim is not None:
        env = shim_env(shim)
    done = subprocess.run([sys.executable, str(runner), str(top), str(out), package.module],
                          cwd=top, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"the suite's runner failed:\n{done.stdout}\n{done.stderr}"
    result = json.loads(out.read_text())
    return result["module"], result["outcomes"]


# ---- the demos: programs that talk to each other -----------------------------------


def start_demo(program: str, cwd: Path, shim: Path | None, *,
               env: Mapping[str, str] | None = None, stdin: int | None = None,
               args: tuple[str, ...] = (), built: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a demo program in ``cwd``, its output going to
    ``cwd/<program>.log`` (the programs print at every turn of a busy
    loop: a pipe would fill and stop them). A ``.py`` of ``cwd`` runs with
    this interpreter, finding our shim when ``shim`` is given and the real
    package otherwise; anything else is a C program of ``built`` (built
    once, never copied: an executable this process is writing cannot be
    run while a child forked meanwhile by another thread still holds its
    descriptor, ETXTBSY), run without anything of ours loaded. ``env``
    adds variables."""
    python = program.endswith(".py")
    if python and shim is not None:
        environ = shim_env(shim)
    else:  # the real package, or a C program: nothing of ours is loaded
        environ = plain_env()
    environ.update(env or {})
    argv = [sys.executable, program, *args] if python else [str((built or cwd) / program), *args]
    with open(cwd / f"{program}.log", "wb") as log:
        return subprocess.Popen(argv, cwd=cwd, env=environ, stdin=stdin, stdout=log,
                                stderr=subprocess.STDOUT)


def demo_log(cwd: Path, program: str) -> str:
    return (cwd / f"{program}.log").read_text(errors="replace")


def converse(here: Path, shim: Path | None, premise: str, conclusion: str,
             ready: Callable[[], bool], cleanup: Callable[[], None], *, check: bool = True,
             timeout: float = 120,
             built: Path | None = None) -> tuple[int | None, int | None, str, str]:
    """Run Mrs. Premise, then (once ``ready()`` says her objects exist)
    Mrs. Conclusion; with ``check``, both must exit 0 within the bound;
    without, Mrs. Premise is killed once Mrs. Conclusion exited.
    ``cleanup()`` removes what a failed run left. C programs are those of
    ``built`` (start_demo). Exit codes and outputs."""
    first = start_demo(premise, here, shim, built=built)
    second = None
    try:
        deadline = time.monotonic() + 20
        while not ready() and first.poll() is None:
            assert time.monotonic() < deadline, "Mrs. Premise's objects never appeared"
            time.sleep(0.02)
        second = start_demo(conclusion, here, shim, built=built)
        second.wait(timeout=timeout)
        if check:
            first.wait(timeout=timeout)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        cleanup()
    out1, out2 = demo_log(here, premise), demo_log(here, conclusion)
    if check:
        assert first.returncode == 0, out1[-3000:]
        assert second.returncode == 0, out2[-3000:]
    return first.returncode, second.returncode, out1, out2
