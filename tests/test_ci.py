""".ci/run passes on success only: a failing test and pytest's "no tests
collected" exit (5) both fail it.

The script is run as it is, in a scratch project. Only its set-up steps are
stood in for: ``python3 -m venv .venv`` (a ``python3`` first on PATH) makes a
``.venv`` whose ``pip`` does nothing and whose ``python`` is this test's
interpreter, so the test command itself, ``.venv/bin/python -m pytest``
under ``unshare --ipc`` when allowed, is the real one.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FAKE_PYTHON3 = """#!/bin/sh
# Stands in for `python3 -m venv .venv` only.
[ "$*" = "-m venv .venv" ] || { echo "unexpected python3 call: $*" >&2; exit 97; }
mkdir -p .venv/bin
printf '#!/bin/sh\\nexit 0\\n' > .venv/bin/pip
printf '#!/bin/sh\\nexec %s "$@"\\n' > .venv/bin/python
chmod +x .venv/bin/pip .venv/bin/python
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def run_ci(tmp_path: Path, tests: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a copy of .ci/run in a scratch project holding ``tests``."""
    project = tmp_path / "project"
    (project / ".ci").mkdir(parents=True)
    shutil.copy2(ROOT / ".ci" / "run", project / ".ci" / "run")
    (project / "tests").mkdir()
    for name, code in tests.items():
        (project / "tests" / name).write_text(code)
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    _executable(fakebin / "python3", FAKE_PYTHON3.replace("%s", sys.executable, 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PATH"] = f"{fakebin}{os.pathsep}{env.get('PATH', '')}"
    # Run from elsewhere: the script must find its project by itself.
    return subprocess.run([str(project / ".ci" / "run")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_ci_run_passes_when_the_tests_pass(tmp_path):
    done = run_ci(tmp_path, {"test_ok.py": "def test_ok():\n    assert True\n"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_ci_run_fails_when_a_test_fails(tmp_path):
    done = run_ci(tmp_path, {"test_bad.py": "def test_bad():\n    assert False\n"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout


@pytest.mark.parametrize("tests", [{}, {"test_empty.py": "x = 1\n"}],
                         ids=["no-test-files", "no-test-functions"])
def test_ci_run_fails_when_no_test_is_collected(tmp_path, tests):
    done = run_ci(tmp_path, tests)
    assert done.returncode == 5, done.stdout + done.stderr  # pytest.ExitCode.NO_TESTS_COLLECTED
    assert "no tests ran" in done.stdout
