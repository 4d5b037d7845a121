"""Session-wide fixtures: IPC leak checks, C peers, process helpers.

Leak policy. Every test runs under ``ipc_tracker``: a test registers every
System V object it (or a child, or ipcmk) creates with ``ipc_tracker.track``
and the fixture removes whatever is left at teardown. When the suite runs in
an IPC namespace of its own (``.ci/run`` uses ``unshare --ipc``), the check is
exact: any object that appeared during a test and is still alive afterwards
fails that test, tracked or not, and the session fails if anything new is
alive at the end. In a shared namespace only tracked objects are checked, so
other programs' objects are never touched.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import py_compile
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest

from support import (posix_queues_left, posix_segments_left, posix_semaphores_left,
                     private_ipc_namespace, remove_object, sysv_objects)
import unixipc
from unixipc import _core

CPEERS = Path(__file__).parent / "cpeers"

# The children's bytecode. Where PYTHONDONTWRITEBYTECODE is set, every child
# interpreter (`python -m unixipc` in the CLI tests and docs/cli.md's
# transcripts, the docs' examples, the compatibility suites' runs: hundreds)
# compiled an editable install's sources anew, about 0.1 s of CPU each (the
# standard library and installed packages come with their bytecode). The
# session compiles those sources once, into their __pycache__, and removes
# what it wrote at the end (the tree is left as the setting keeps it); the
# files of other interpreters' tags (other legs of .ci/run) are not touched.
_BYTECODE_WRITTEN: list[str] = []


def _compile_editable_sources() -> None:
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return  # the children write and reuse their own
    package = Path(unixipc.__file__).parent
    if "site-packages" in package.parts:
        return  # an installed copy: pip compiled it
    for source in sorted(package.rglob("*.py")):
        cached = importlib.util.cache_from_source(str(source))
        if not os.path.exists(cached):
            try:
                py_compile.compile(str(source), cfile=cached, doraise=True)
            except (OSError, py_compile.PyCompileError):
                continue  # a read-only tree: the children compile it themselves
            _BYTECODE_WRITTEN.append(cached)


def _remove_bytecode_written() -> None:
    for cached in _BYTECODE_WRITTEN:
        try:
            os.unlink(cached)
            os.rmdir(os.path.dirname(cached))  # when no other tag's files are left
        except OSError:
            pass


_compile_editable_sources()
PRIVATE_NS = private_ipc_namespace()
_session_start_objects: set[tuple[str, int]] = set()
_session_tracked: set[tuple[str, int]] = set()


class IPCTracker:
    """Registers System V objects a test created so they are always removed."""

    def __init__(self) -> None:
        self.objects: list[tuple[str, int]] = []

    def track(self, kind: str, ident: int) -> int:
        """Register ``ident`` of ``kind`` ('msg', 'sem' or 'shm'); returns it."""
        assert kind in ("msg", "sem", "shm"), kind
        self.objects.append((kind, int(ident)))
        _session_tracked.add((kind, int(ident)))
        return int(ident)

    def ipcmk(self, *args: str) -> int:
        """Run ``ipcmk`` (e.g. ``-Q``), track and return the new id."""
        out = subprocess.run(["ipcmk", *args], capture_output=True, text=True,
                             check=True, timeout=10).stdout
        ident = int(out.split()[-1])
        kind = {"-Q": "msg", "-S": "sem", "-M": "shm"}[args[0]]
        return self.track(kind, ident)


# Where .ci/run runs what (the legs are listed at the top of .ci/run). Every
# test runs in the main leg, README's plain `python -m pytest`. "once": tests
# of the project's own tooling (the CI script, a plain pip install, the sdist and
# the repaired wheel), which do not depend on the interpreter version or on how
# the extension was built: main leg only. "heavy": the stress tests, counted in
# thousands of messages or forks, or a GiB through a queue: main and sanitizer
# legs, not the py3.X legs (which run every other test). Marked here, in one place, by
# module and test function name (every parametrisation of it).
ONCE_MODULES = {"test_ci.py", "test_install.py", "test_package.py"}
HEAVY_TESTS = {
    ("test_queue_basic.py", "test_a_one_gib_array_through_the_queue"),
    ("test_sock_channel.py", "test_ten_thousand_random_messages_intact_in_order"),
    ("test_shmch_crossproc.py", "test_four_by_four_exactly_once_in_order"),
    ("test_shmch_crossproc.py", "test_senders_and_receivers_killed_at_random_points"),
    ("test_shmch_crossproc.py", "test_garbage_over_the_mapping_never_crashes_a_reader"),
    ("test_shmch_crossproc.py", "test_no_descriptor_or_memory_growth_over_a_million_messages"),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "once: tooling tests, run in .ci/run's main leg only")
    config.addinivalue_line("markers", "heavy: stress tests, run in .ci/run's main and asan legs")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.name
        function = getattr(item, "originalname", item.name)
        if module in ONCE_MODULES:
            item.add_marker(pytest.mark.once)
        if (module, function) in HEAVY_TESTS:
            item.add_marker(pytest.mark.heavy)


def pytest_sessionstart(session: pytest.Session) -> None:
    _session_start_objects.update(sysv_objects())


@pytest.fixture(autouse=True)
def collect_garbage() -> Iterator[None]:
    """Collect after every test, so an unclosed object that only a
    collection frees (it is in a reference cycle) fails the test that
    leaked it, not a later one (ResourceWarning is an error here). The
    young generations only: what a test made is there unless it lived
    through an automatic full collection, and a full collection of the
    whole session's heap after each of ~1200 tests cost over a minute."""
    yield
    gc.collect(1)


@pytest.fixture(autouse=True)
def ipc_tracker() -> Iterator[IPCTracker]:
    tracker = IPCTracker()
    before = sysv_objects()
    yield tracker
    alive = sysv_objects()
    leaked_tracked = [obj for obj in tracker.objects if obj in alive]
    for kind, ident in leaked_tracked:
        remove_object(kind, ident)
    if PRIVATE_NS:
        untracked = sorted(alive - before - set(tracker.objects))
        for kind, ident in untracked:
            remove_object(kind, ident)
        if untracked:
            pytest.fail(f"test left untracked System V objects alive: {untracked}")


@pytest.fixture(autouse=True)
def posix_leak_check() -> Iterator[None]:
    """Fail a test that leaves a named POSIX semaphore or shared memory
    segment of this run in /dev/shm, or a POSIX message queue of this run
    (after removing it)."""
    yield
    left = posix_semaphores_left() + posix_segments_left()
    for entry in left:
        try:
            os.unlink(os.path.join("/dev/shm", entry))
        except FileNotFoundError:
            pass
    queues = posix_queues_left()
    for name in queues:
        try:
            _core.pmq_unlink(name)
        except FileNotFoundError:
            pass
    if left:
        pytest.fail(f"test left named POSIX semaphores or segments in /dev/shm: {left}")
    if queues:
        pytest.fail(f"test left POSIX message queues: {queues}")


def pytest_unconfigure(config: pytest.Config) -> None:
    _remove_bytecode_written()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    alive = sysv_objects()
    if PRIVATE_NS:
        leaked = sorted(alive - _session_start_objects)
    else:
        leaked = sorted(alive & _session_tracked)
    if leaked:
        print(f"\nLEAK: System V objects created by the suite are still alive: {leaked}")
        for kind, ident in leaked:
            remove_object(kind, ident)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def cpeer(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """compile(name) -> path of tests/cpeers/<name>.c built once per session."""
    outdir = tmp_path_factory.mktemp("cpeers")
    built: dict[str, str] = {}
    cc = shutil.which("cc") or shutil.which("gcc")

    def build(name: str) -> str:
        if name not in built:
            if cc is None:
                pytest.fail("a C compiler is needed for the C peer tests")
            exe = outdir / name
            subprocess.run([cc, "-O2", "-Wall", "-o", str(exe), str(CPEERS / f"{name}.c")],
                           check=True, timeout=120)
            built[name] = str(exe)
        return built[name]

    return build


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    """Run the test with tmp_path as the current directory."""
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)
