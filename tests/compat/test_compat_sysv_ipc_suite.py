"""sysv_ipc's own test suite (from its 1.2.0 sdist), run against the real
package and against unixipc.compat.sysv_ipc standing in for it.

Every test that passes with the real package must pass with the shim, and
the tests the real package skips because its Linux build has no semaphore
timeouts must run and pass with ours.
"""

from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from compat_sdist import run_suite, sdist, shim_dir, unpack

pytestmark = pytest.mark.timeout(600)

#: The real package's count (137) and its skips on Linux: the 6 timeout
#: tests, and one the suite skips on Linux whatever the implementation.
SUITE_SIZE = 137
TIMEOUT_TESTS = {
    "tests.test_semaphores.TestSemaphoreAquisition.test_acquisition_zero_timeout",
    "tests.test_semaphores.TestSemaphoreAquisition.test_acquisition_nonzero_int_timeout",
    "tests.test_semaphores.TestSemaphoreAquisition.test_acquisition_nonzero_float_timeout",
    "tests.test_semaphores.TestSemaphoreZ.test_Z_zero_timeout",
    "tests.test_semaphores.TestSemaphoreZ.test_Z_nonzero_int_timeout",
    "tests.test_semaphores.TestSemaphoreZ.test_Z_nonzero_float_timeout",
}
#: Skipped on Linux by the suite itself: it expects receive(type=-2) to
#: return type 2 from types 4,3,2,1, where the kernel (rightly, as POSIX
#: says: the lowest type <= 2) returns type 1.
LINUX_SKIPS = {
    "tests.test_message_queues.TestMessageQueueSendReceive."
    "test_message_type_receive_specific_order",
}
@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack(sdist(), tmp_path_factory.mktemp("sysv_ipc_sdist"))


@pytest.fixture(scope="module")
def runs(unpacked: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both runs of the suite, side by side, each one's (module, outcomes)
    or the exception it raised. The suite mostly sleeps (1.1 s before each
    check that a time stamp of one-second granularity moved, and the timeout
    tests' waits), and every key it uses is a random one (its make_key), so
    two runs at once do not meet and take about the time of one. Both have
    ended before any test starts: no object of theirs outlives a test."""
    shim = shim_dir(tmp_path_factory.mktemp("shim"))
    work = {"real": (tmp_path_factory.mktemp("real"), None),
            "shim": (tmp_path_factory.mktemp("shim_run"), shim)}
    done: dict[str, Any] = {"shim_dir": shim}
    with ThreadPoolExecutor(len(work)) as pool:
        futures = {name: pool.submit(run_suite, unpacked, path, shim=where)
                   for name, (path, where) in work.items()}
        for name, future in futures.items():
            try:
                done[name] = future.result()
            except BaseException as exc:  # noqa: BLE001 - raised by the fixture that needs it
                done[name] = exc
    return done


def _run_of(runs: dict[str, Any], name: str) -> tuple[str, dict[str, list[str]]]:
    if isinstance(runs[name], BaseException):
        raise runs[name]
    module, outcomes = runs[name]
    return module, outcomes


@pytest.fixture(scope="module")
def real(runs: dict[str, Any]) -> dict[str, list[str]]:
    if importlib.util.find_spec("sysv_ipc") is None:  # the test extra installs it
        pytest.fail("the real sysv_ipc is not installed: `pip install -e '.[test]'`")
    module, outcomes = _run_of(runs, "real")
    assert "site-packages" in module, module
    return outcomes


@pytest.fixture(scope="module")
def shim(runs: dict[str, Any]) -> dict[str, list[str]]:
    module, outcomes = _run_of(runs, "shim")
    assert module == str(runs["shim_dir"] / "sysv_ipc.py"), module
    return outcomes


def _with(outcomes: dict[str, list[str]], kind: str) -> set[str]:
    return {test for test, (outcome, _) in outcomes.items() if outcome == kind}


def test_both_runs_ran_the_whole_suite(real: dict[str, list[str]],
                                       shim: dict[str, list[str]]) -> None:
    assert len(real) == SUITE_SIZE
    assert set(shim) == set(real)


def test_the_real_package_passes_all_but_its_skips(real: dict[str, list[str]]) -> None:
    """The baseline: the real package passes every test it does not skip,
    and skips the timeout tests (its Linux build has no semtimedop)."""
    assert _with(real, "failed") | _with(real, "error") == set()
    assert _with(real, "skipped") == TIMEOUT_TESTS | (LINUX_SKIPS & set(real))


def test_every_test_the_real_package_passes_passes_with_the_shim(
        real: dict[str, list[str]], shim: dict[str, list[str]]) -> None:
    broken = {test: shim[test] for test in _with(real, "passed")
              if shim[test][0] != "passed"}
    assert broken == {}, "\n\n".join(f"{t}: {o}\n{d}" for t, (o, d) in broken.items())


def test_the_timeout_tests_run_and_pass_with_the_shim(shim: dict[str, list[str]]) -> None:
    assert {test: shim[test][0] for test in TIMEOUT_TESTS} == dict.fromkeys(TIMEOUT_TESTS,
                                                                            "passed")


def test_the_shim_fails_nothing_and_skips_only_the_suites_own_linux_skip(
        shim: dict[str, list[str]]) -> None:
    """On every interpreter, the buffer-protocol tests included (before 3.12
    they need the C base class _core.BufferForwarder)."""
    assert _with(shim, "failed") | _with(shim, "error") == set()
    assert _with(shim, "skipped") == LINUX_SKIPS & set(shim)
