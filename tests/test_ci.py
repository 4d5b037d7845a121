""".ci/run passes on success only: a failing test, pytest's "no tests
collected" exit (5) and a sanitizer report (even from a child whose exit
status no test looks at) all fail it, in whichever leg they happen.

The script is run as it is, in a scratch project. Only its set-up steps are
stood in for: ``python3 -m venv DIR`` (a ``python3`` first on PATH) makes a
venv whose ``pip`` only records the compiler flags it was given and whose
``python`` is this test's interpreter, so the test command itself,
``DIR/bin/python -m pytest`` under ``unshare --ipc`` when allowed (and with
libasan preloaded in the sanitizer leg), is the real one. A stand-in
``pyenv`` has one other CPython version, so that leg runs too.
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
MAIN_VERSION = "%d.%d" % sys.version_info[:2]
OTHER_VERSION = "3.13" if MAIN_VERSION == "3.10" else "3.10"
LEGS = ("main", f"py{OTHER_VERSION}", "asan")

FAKE_PYTHON3 = """#!/bin/sh
# Stands in for `python3 -m venv DIR` only.
[ $# = 3 ] && [ "$1 $2" = "-m venv" ] || { echo "unexpected python call: $*" >&2; exit 97; }
mkdir -p "$3/bin"
printf '#!/bin/sh\\necho "$0 CFLAGS=$CFLAGS" >> pip-calls\\n' > "$3/bin/pip"
printf '#!/bin/sh\\nexec %s "$@"\\n' > "$3/bin/python"
chmod +x "$3/bin/pip" "$3/bin/python"
"""

# Knows one version (OTHER) besides the one running the tests.
FAKE_PYENV = """#!/bin/sh
[ "$1 $2" = "prefix OTHER" ] && { echo "PREFIX"; exit 0; }
echo "pyenv: version not installed" >&2
exit 1
"""

# The heap overflow a sanitizer reports, in a child whose exit status is ignored.
CHILD_OVERFLOW = """
import os, subprocess, sys
CODE = ("import ctypes; m = ctypes.CDLL(None).malloc; m.restype = ctypes.c_void_p; "
        "ctypes.memset(m(8), 0, 64)")

def test_child_overflows_only_under_asan():
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        subprocess.run([sys.executable, "-c", CODE], capture_output=True)
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
    fake_python = FAKE_PYTHON3.replace("%s", sys.executable, 1)
    _executable(fakebin / "python3", fake_python)
    other = OTHER_VERSION
    (tmp_path / "other" / "bin").mkdir(parents=True)
    _executable(tmp_path / "other" / "bin" / f"python{other}", fake_python)
    _executable(fakebin / "pyenv", FAKE_PYENV.replace("OTHER", other)
                .replace("PREFIX", str(tmp_path / "other")))
    # Not what a sanitizer leg running this test set for itself either.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")
           and k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC")}
    env["PATH"] = f"{fakebin}{os.pathsep}{env.get('PATH', '')}"
    # Run from elsewhere: the script must find its project by itself.
    return subprocess.run([str(project / ".ci" / "run")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_ci_run_passes_when_the_tests_pass(tmp_path):
    done = run_ci(tmp_path, {"test_ok.py": "def test_ok():\n    assert True\n"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("1 passed") == len(LEGS)
    for name in LEGS:
        assert f"=== leg {name}: exit 0" in done.stdout
    versions = done.stdout.split("=== CPython versions: ")[1].splitlines()[0]
    assert f"found {MAIN_VERSION}(main)" in versions or f" {MAIN_VERSION}(main)" in versions
    assert OTHER_VERSION in versions.split(";")[0]
    assert "skipped (not installed in pyenv)" in versions


def test_ci_run_builds_with_werror_and_with_the_sanitizers(tmp_path):
    run_ci(tmp_path, {"test_ok.py": "def test_ok():\n    assert True\n"})
    calls = (tmp_path / "project" / "pip-calls").read_text().splitlines()
    assert len(calls) == len(LEGS), calls
    assert all("-Werror" in call.split("CFLAGS=", 1)[1].split() for call in calls), calls
    asan = [call for call in calls if call.startswith(".venv-asan/")]
    assert len(asan) == 1 and "-fsanitize=address,undefined" in asan[0], calls
    assert "-fno-sanitize-recover=all" in asan[0]


def test_ci_run_fails_on_a_sanitizer_report_from_a_child(tmp_path):
    done = run_ci(tmp_path, {"test_child.py": CHILD_OVERFLOW})
    assert done.returncode != 0, done.stdout + done.stderr
    assert done.stdout.count("1 passed") == len(LEGS)  # pytest itself saw nothing
    assert "=== leg main: exit 0" in done.stdout
    assert "heap-buffer-overflow" in done.stdout
    assert "=== leg asan: exit 1" in done.stdout


def test_ci_run_fails_when_a_test_fails(tmp_path):
    done = run_ci(tmp_path, {"test_bad.py": "def test_bad():\n    assert False\n"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("1 failed") == len(LEGS)


@pytest.mark.parametrize("tests", [{}, {"test_empty.py": "x = 1\n"}],
                         ids=["no-test-files", "no-test-functions"])
def test_ci_run_fails_when_no_test_is_collected(tmp_path, tests):
    done = run_ci(tmp_path, tests)
    assert done.returncode == 5, done.stdout + done.stderr  # pytest.ExitCode.NO_TESTS_COLLECTED
    assert "no tests ran" in done.stdout


SPLIT_CONFTEST = """
def pytest_configure(config):
    config.addinivalue_line("markers", "once: main leg only")
    config.addinivalue_line("markers", "heavy: main and asan legs")
"""

SPLIT_TESTS = """
import pytest

def test_everywhere():
    pass

@pytest.mark.heavy
def test_heavy():
    pass

@pytest.mark.once
def test_once():
    pass
"""


def test_ci_run_splits_heavy_and_once_tests_between_the_legs(tmp_path):
    """main runs all (README's command), py3.X neither heavy nor once tests,
    asan all but the once tests; the split is documented at the top."""
    done = run_ci(tmp_path, {"conftest.py": SPLIT_CONFTEST, "test_split.py": SPLIT_TESTS})
    assert done.returncode == 0, done.stdout + done.stderr
    legs = {name: done.stdout.split(f"=== leg {name}: start")[1].split(f"=== leg {name}: exit")[0]
            for name in LEGS}
    assert "3 passed" in legs["main"] and "deselected" not in legs["main"], legs["main"]
    assert "1 passed, 2 deselected" in legs[f"py{OTHER_VERSION}"], legs
    assert "2 passed, 1 deselected" in legs["asan"], legs["asan"]
    header = (ROOT / ".ci" / "run").read_text().split("set -euo pipefail")[0]
    assert '-m "not heavy and not once"' in header and '-m "not once"' in header


def test_every_marked_test_exists():
    """A renamed test would drop out of its marker silently: each name that
    tests/conftest.py marks is a test function in a module of that name."""
    import importlib.util
    # by path: "conftest" in sys.modules may be another directory's
    spec = importlib.util.spec_from_file_location("_top_conftest", ROOT / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    top = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(top)
    HEAVY_TESTS, ONCE_MODULES = top.HEAVY_TESTS, top.ONCE_MODULES
    tests = ROOT / "tests"
    for module in ONCE_MODULES:
        assert list(tests.rglob(module)), module
    for module, function in HEAVY_TESTS:
        texts = [path.read_text() for path in tests.rglob(module)]
        assert any(f"\ndef {function}(" in text for text in texts), (module, function)
