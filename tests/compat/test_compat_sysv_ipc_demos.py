"""sysv_ipc's demos (from its 1.2.0 sdist), run unchanged with
unixipc.compat.sysv_ipc standing in for the package: the message queue
conversation of Mrs. Premise and Mrs. Conclusion, and the semaphore and
shared memory one, in every pairing of its Python and C programs.

Only params.txt is rewritten: a key of each run's own (so the pairings
can run side by side), fewer iterations, and LIVE_DANGEROUSLY=0 (the
sdist ships 1, the mode in which the demo shows that memory without a
semaphore gets corrupted).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import pytest

from compat_sdist import converse, plain_env, sdist, shim_dir, unpack
import unixipc

pytestmark = pytest.mark.timeout(300)

ITERATIONS = 100


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack(sdist(), tmp_path_factory.mktemp("sysv_ipc_demos")) / "demos"


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shim_dir(tmp_path_factory.mktemp("shim"))


def _copy(source: Path, into: Path, key: int) -> Path:
    shutil.copytree(source, into)
    params = (into / "params.txt").read_text().splitlines()
    new = {"ITERATIONS": str(ITERATIONS), "KEY": str(key), "LIVE_DANGEROUSLY": "0"}
    lines = [f"{line.split('=')[0]}={new[line.split('=')[0]]}"
             if "=" in line and line.split("=")[0] in new else line for line in params]
    (into / "params.txt").write_text("\n".join(lines) + "\n")
    return into


def _converse(here: Path, shim: Path | None, premise: str, conclusion: str,
              ready: Callable[[], bool], key: int, *, check: bool = True,
              built: Path | None = None) -> tuple[int | None, int | None, str, str]:
    return converse(here, shim, premise, conclusion, ready, lambda: _remove_key(key),
                    check=check, built=built)


def _remove_key(key: int) -> None:
    """Remove what a failed run left with this key (a passing one leaves nothing)."""
    for listing, kind in ((unixipc.message_queues, unixipc.MessageQueue),
                          (unixipc.semaphore_sets, unixipc.SemaphoreSet),
                          (unixipc.shared_memory_segments, unixipc.SharedMemory)):
        for entry in listing():
            if entry.perm.key == key:
                with contextlib.suppress(OSError):
                    kind.from_id(entry.id).remove()  # type: ignore[attr-defined]


def _key_in(listing: list[object], key: int) -> bool:
    return any(getattr(entry, "perm").key == key for entry in listing)


#: The message queue demo's conclusion.py, as shipped in 1.2.0, checks
#: ``s + 'x' == md5(what_i_sent)``, which never holds: with the real
#: package too it stops with "Message corruption after 1 iterations."
DEMO_BUG = "assert(s + 'x' == hashlib.md5(what_i_sent).hexdigest())"


def test_message_queue_demo_as_shipped_ends_as_with_the_real_package(
        demos: Path, shim: Path, tmp_path: Path) -> None:
    outcomes = []
    for name, path in (("real", None), ("shim", shim)):
        key = 0x5E5A0000 + (os.getpid() + len(name)) % 0x10000
        here = _copy(demos / "message_queues", tmp_path / name, key)
        assert DEMO_BUG in (here / "conclusion.py").read_text()
        _, rc2, _, out2 = _converse(here, path, "premise.py", "conclusion.py",
                                    lambda: _key_in(unixipc.message_queues(), key), key,
                                    check=False)
        outcomes.append((rc2, out2.strip().splitlines()[-1]))
    assert outcomes[0] == outcomes[1] == (
        1, "AssertionError: Message corruption after 1 iterations.")


def test_message_queue_demo_with_its_check_fixed(demos: Path, shim: Path,
                                                 tmp_path: Path) -> None:
    key = 0x5E5A0000 + (os.getpid() + 7) % 0x10000
    here = _copy(demos / "message_queues", tmp_path / "mq", key)
    script = here / "conclusion.py"
    script.write_text(script.read_text().replace(DEMO_BUG, DEMO_BUG.replace(" + 'x'", "")))
    _, _, out1, _ = _converse(here, shim, "premise.py", "conclusion.py",
                              lambda: _key_in(unixipc.message_queues(), key), key)
    assert f"{ITERATIONS} iterations complete" in out1
    assert not _key_in(unixipc.message_queues(), key)


@pytest.fixture(scope="module")
def built(demos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """premise and conclusion, the C programs, built once."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.fail("no C compiler: the C half of the demo needs one")
    out = tmp_path_factory.mktemp("demo_c")
    src = demos / "sem_and_shm"
    cc = shutil.which("cc") or "gcc"
    for program in ("premise", "conclusion"):
        subprocess.run([cc, "-w", "-o", str(out / program), str(src / f"{program}.c"),
                        str(src / "md5.c"), str(src / "utils.c")], check=True, timeout=120,
                       env=plain_env())
    return out


#: The three pairings of the Python and C programs.
PAIRINGS = [("premise.py", "conclusion.py"), ("premise.py", "conclusion"),
            ("premise", "conclusion.py")]


def _pairing_key(premise: str, conclusion: str) -> int:
    return 0x5E5B0000 + (os.getpid() * 3 + len(premise) * 7 + len(conclusion)) % 0x10000


@pytest.fixture(scope="module")
def sem_and_shm_runs(demos: Path, shim: Path, built: Path,
                     tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """The three pairings' conversations, run at once (a key of each one's
    own): each ends with Mrs. Premise's 5-second pause, which need not be
    waited three times. Pairing -> (Mrs. Premise's output, Mrs.
    Conclusion's) or the exception its run raised, which its test raises.
    All three have ended before any test starts: no object of theirs
    outlives a test."""
    def run(premise: str, conclusion: str) -> tuple[str, str]:
        key = _pairing_key(premise, conclusion)
        here = _copy(demos / "sem_and_shm", tmp_path_factory.mktemp("demo") / "demo", key)
        _, _, out1, out2 = _converse(here, shim, premise, conclusion,
                                     lambda: _key_in(unixipc.shared_memory_segments(), key),
                                     key, built=built)
        return out1, out2

    outcomes: dict[tuple[str, str], Any] = {}
    with ThreadPoolExecutor(len(PAIRINGS)) as pool:
        futures = {pairing: pool.submit(run, *pairing) for pairing in PAIRINGS}
        for pairing, future in futures.items():
            try:
                outcomes[pairing] = future.result()
            except BaseException as exc:  # noqa: BLE001 - raised by the pairing's test
                outcomes[pairing] = exc
    return outcomes


@pytest.mark.parametrize("premise,conclusion", PAIRINGS)
def test_semaphore_and_shared_memory_demo(sem_and_shm_runs: dict[tuple[str, str], Any],
                                          premise: str, conclusion: str) -> None:
    outcome = sem_and_shm_runs[(premise, conclusion)]
    if isinstance(outcome, BaseException):
        raise outcome
    out1, out2 = outcome
    key = _pairing_key(premise, conclusion)
    assert "Destroying" in out1, out1[-2000:]
    assert "corruption" not in (out1 + out2).lower()
    assert not _key_in(unixipc.shared_memory_segments(), key)
    assert not _key_in(unixipc.semaphore_sets(), key)
