"""posix_ipc's own test suite (from its 1.3.2 sdist), run against the real
package and against unixipc.compat.posix_ipc standing in for it.

Every test that passes with the real package must pass with the shim. The
suite's one leak (a segment TestMemoryResize.test_ftruncate_increase makes
and never unlinks, with either implementation) is removed here, and each
run may leave no more than that in /dev/shm.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

from compat_sdist import POSIX_IPC, run_suite, sdist, shim_dir, unpack

pytestmark = pytest.mark.timeout(600)

#: The real package's count on Linux: 93, none skipped.
SUITE_SIZE = 93
#: Segments the suite itself leaves (test_ftruncate_increase's).
SUITE_LEAKS = 1
#: The names the suite uses: its make_name's and posix_ipc's random ones
#: (lowercase letters), each maybe behind a named semaphore's "sem.".
#: /dev/shm is not private to an IPC namespace: what other processes
#: make there meanwhile is not looked at.
SUITE_NAME = re.compile(r"(sem\.)?[a-z]{3,13}")


def _shm() -> set[str]:
    return {name for name in os.listdir("/dev/shm") if SUITE_NAME.fullmatch(name)}


def _run(unpacked: Path, work: Path, shim: Path | None) -> tuple[str, dict[str, list[str]],
                                                                 set[str]]:
    """One run of the suite; what it left in /dev/shm is removed."""
    before = _shm()
    try:
        module, outcomes = run_suite(unpacked, work, shim=shim, package=POSIX_IPC)
    finally:
        left = _shm() - before
        for name in left:
            try:
                os.unlink(os.path.join("/dev/shm", name))
            except FileNotFoundError:
                pass
    return module, outcomes, left


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack(sdist(POSIX_IPC), tmp_path_factory.mktemp("posix_ipc_sdist"))


@pytest.fixture(scope="module")
def real(unpacked: Path,
         tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[str]], set[str]]:
    if importlib.util.find_spec("posix_ipc") is None:  # the test extra installs it
        pytest.fail("the real posix_ipc is not installed: `pip install -e '.[test]'`")
    module, outcomes, left = _run(unpacked, tmp_path_factory.mktemp("real"), None)
    assert "site-packages" in module, module
    return outcomes, left


@pytest.fixture(scope="module")
def shim(unpacked: Path,
         tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[str]], set[str]]:
    shim = shim_dir(tmp_path_factory.mktemp("shim"), POSIX_IPC)
    module, outcomes, left = _run(unpacked, tmp_path_factory.mktemp("shim_run"), shim)
    assert module == str(shim / "posix_ipc.py"), module
    return outcomes, left


def _with(outcomes: dict[str, list[str]], kind: str) -> set[str]:
    return {test for test, (outcome, _) in outcomes.items() if outcome == kind}


def test_both_runs_ran_the_whole_suite(real: tuple[dict[str, list[str]], set[str]],
                                       shim: tuple[dict[str, list[str]], set[str]]) -> None:
    assert len(real[0]) == SUITE_SIZE
    assert set(shim[0]) == set(real[0])


def test_the_real_package_passes_the_whole_suite(
        real: tuple[dict[str, list[str]], set[str]]) -> None:
    """The baseline: on Linux the real package passes all 93."""
    failing = {t: real[0][t] for t in real[0] if real[0][t][0] != "passed"}
    assert failing == {}


def test_every_test_the_real_package_passes_passes_with_the_shim(
        real: tuple[dict[str, list[str]], set[str]],
        shim: tuple[dict[str, list[str]], set[str]]) -> None:
    broken = {test: shim[0][test] for test in _with(real[0], "passed")
              if shim[0][test][0] != "passed"}
    assert broken == {}, "\n\n".join(f"{t}: {o}\n{d}" for t, (o, d) in broken.items())
    assert _with(shim[0], "skipped") == _with(real[0], "skipped")


def test_the_shim_leaves_no_more_than_the_suite_itself_leaks(
        real: tuple[dict[str, list[str]], set[str]],
        shim: tuple[dict[str, list[str]], set[str]]) -> None:
    assert len(real[1]) == SUITE_LEAKS, real[1]
    assert len(shim[1]) == SUITE_LEAKS, shim[1]
    assert not any(name.startswith("sem.") for name in shim[1])
