"""Helpers for tests that use real processes and real kernel objects.

Nothing here mocks a system call: children are real forked processes, System
V objects are listed from /proc/sysvipc, and cleanup goes through ipcrm.
"""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import signal
import subprocess
import time
import traceback
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterator, TypeVar

NOBODY = 65534
KINDS = ("msg", "sem", "shm")
IPCRM_FLAG = {"msg": "-q", "sem": "-s", "shm": "-m"}
# True in CI's sanitizer leg (libasan preloaded): everything runs slower, and
# ASan's quarantine keeps freed memory resident, so RSS says nothing of leaks.
SANITIZED = any("libasan" in line for line in open("/proc/self/maps"))


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.005) -> Any:
    """Return predicate()'s first truthy value; AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


def process_state(pid: int) -> str:
    """The one-letter state of a process from /proc (R, S, D, Z, ...)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def wait_blocked(pid: int, timeout: float = 5.0) -> None:
    """Wait until process pid sleeps in the kernel (state S), i.e. blocked."""
    # Two consecutive sightings, so a short sleep elsewhere is not mistaken.
    seen = [0]

    def blocked() -> bool:
        if process_state(pid) == "S":
            seen[0] += 1
        else:
            seen[0] = 0
        return seen[0] >= 2

    wait_until(blocked, timeout, interval=0.01)


class ChildError(Exception):
    """An exception raised in a child, carried back with its traceback."""


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None
    tb: str = ""


class Child:
    """Run fn(*args) in a forked child; get its return value or exception.

    ``uid`` drops privileges in the child before calling fn (after the
    imports the parent already made: the interpreter's files may be
    unreadable to that user). Every wait is bounded; a child that overruns
    is killed.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, uid: int | None = None) -> None:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            _die_with_parent()
            os.close(r)
            outcome = Outcome()
            try:
                if uid is not None:
                    os.setgroups([])
                    os.setgid(uid)
                    os.setuid(uid)
                outcome.value = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - carried to the parent
                outcome.error = exc
                outcome.tb = traceback.format_exc()
            try:
                data = pickle.dumps(outcome)
            except Exception:
                data = pickle.dumps(Outcome(error=ChildError(repr(outcome.error)), tb=outcome.tb))
            with os.fdopen(w, "wb") as f:
                f.write(data)
            os._exit(0)
        os.close(w)
        self.pid = pid
        self._r = r
        self._status: int | None = None

    def result(self, timeout: float = 10.0) -> Any:
        """Wait for the child; return fn's value or re-raise its exception."""
        data = bytearray()
        deadline = time.monotonic() + timeout
        import select

        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise TimeoutError(f"child {self.pid} did not finish within {timeout}s")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 65536)
                if not chunk:
                    break
                data += chunk
        os.close(self._r)
        self._r = -1
        self.wait(timeout=max(0.1, deadline - time.monotonic()))
        if not data:
            raise ChildError(f"child {self.pid} died without a result (status {self._status})")
        outcome: Outcome = pickle.loads(bytes(data))
        if outcome.error is not None:
            if outcome.tb and hasattr(outcome.error, "add_note"):  # Python 3.11+
                outcome.error.add_note("in the child:\n" + outcome.tb)
            raise outcome.error
        return outcome.value

    def wait(self, timeout: float = 10.0) -> int:
        """Reap the child and return its wait status (kills it on timeout)."""
        if self._status is not None:
            return self._status
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._status = status
                return status
            if time.monotonic() > deadline:
                self.kill()
            time.sleep(0.005)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        if self._status is None:
            self.kill()
            self.wait()
        if self._r >= 0:
            os.close(self._r)
            self._r = -1


def sysv_objects() -> set[tuple[str, int]]:
    """Every (kind, id) alive in this IPC namespace, from /proc/sysvipc."""
    found: set[tuple[str, int]] = set()
    for kind in KINDS:
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                lines = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 1:
                found.add((kind, int(fields[1])))
    return found


def remove_object(kind: str, ident: int) -> bool:
    """Remove one object with ipcrm; True when it existed and was removed."""
    done = subprocess.run(["ipcrm", IPCRM_FLAG[kind], str(ident)], capture_output=True, timeout=10)
    return done.returncode == 0


def private_ipc_namespace() -> bool:
    """True when this process runs in an IPC namespace of its own (unshare
    --ipc), where every object that appears was made by the tests.

    Compared with the nearest ancestor whose namespace link is readable
    (/proc/1 often is not, even for root)."""
    try:
        mine = os.readlink("/proc/self/ns/ipc")
    except OSError:
        return False
    pid = os.getppid()
    while pid > 1:
        try:
            return os.readlink(f"/proc/{pid}/ns/ipc") != mine
        except OSError:
            pass
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def _die_with_parent() -> None:
    """In a forked child: be killed if the test process dies (a test that
    times out must not leave children holding pipes open)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def cpu_seconds(pid: int | None = None) -> float:
    """User+system CPU time of a process (default: this one), in seconds."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


#: Named POSIX objects live in /dev/shm, which `unshare --ipc` does not
#: separate: test names carry this process's pid, so concurrent runs never
#: meet and the leak check (conftest) sees only this run's.
POSIX_PREFIX = f"unixipc-test-{os.getpid()}-"
_posix_count = [0]


def posix_name(tag: str = "sem") -> str:
    """A fresh POSIX IPC name ("/unixipc-test-PID-N-tag") for one test."""
    _posix_count[0] += 1
    name = f"/{POSIX_PREFIX}{_posix_count[0]}-{tag}"
    _posix_issued.append(name)
    return name


_posix_issued: list[str] = []


def posix_queues_left() -> list[str]:
    """This run's POSIX message queues that still exist: the entries of
    /dev/mqueue when it is mounted, else each name posix_name handed out
    since the last call, probed with mq_open (no listing needs a mount)."""
    from unixipc import _core

    issued = _posix_issued[:]
    del _posix_issued[:]
    try:
        return sorted("/" + n for n in os.listdir("/dev/mqueue") if n.startswith(POSIX_PREFIX))
    except OSError:
        pass
    left = []
    for name in issued:
        try:
            _core.pmq_open(name, os.O_RDONLY, 0, 0, 0).close()
        except OSError:
            continue
        left.append(name)
    return left


def posix_semaphores_left() -> list[str]:
    """This run's named semaphores still in /dev/shm (file names)."""
    try:
        return sorted(n for n in os.listdir("/dev/shm") if n.startswith("sem." + POSIX_PREFIX))
    except FileNotFoundError:
        return []


def posix_segments_left() -> list[str]:
    """This run's named shared memory segments still in /dev/shm (file
    names; symlinks that tests plant included)."""
    try:
        return sorted(n for n in os.listdir("/dev/shm") if n.startswith(POSIX_PREFIX))
    except FileNotFoundError:
        return []


_T = TypeVar("_T")


def run_while_ticking(make: Callable[[], Awaitable[_T]]) -> tuple[_T, int]:
    """``asyncio.run(make())`` while a task of the same loop ticks every
    10 ms; returns (the result, the ticks): how an async twin shows that the
    loop kept running while it waited."""
    async def main() -> tuple[_T, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        try:
            result = await make()
        finally:
            ticker.cancel()
        return result, ticks

    return asyncio.run(main())


def posix_maker(cls: Callable[..., Any], prefix: str) -> Iterator[Callable[..., Any]]:
    """The body of a fixture: ``make(name=None, **kwargs)`` makes a new named
    POSIX object of ``cls`` (``create=True`` unless told), and each one is
    unlinked and closed at teardown."""
    made: list[Any] = []

    def make(name: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("create", True)
        obj = cls(name or posix_name(prefix), **kwargs)
        made.append(obj)
        return obj

    yield make
    for obj in made:
        try:
            obj.unlink()
        except FileNotFoundError:
            pass
        obj.close()


def frozen_heap() -> Iterator[None]:
    """The body of an autouse fixture for tests that make full collections
    (``gc.collect()``) to see what they made collected: ``gc.freeze()`` for
    the test's duration, so each collection scans only the objects made
    since the test began, not the whole session's heap (every test module
    loaded: tens of milliseconds a collection, over 15 s for test_closed's).
    What the test made is collected as before; what is older than the test
    is not what it looks for, and is collected as before after it."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def ipcs_u() -> dict[str, list[int]]:
    """``ipcs -u`` parsed: each line's label (the text before its first
    number, '=' stripped) -> the numbers on it ("pages resident": [0],
    "Swap performance:": [0, 0])."""
    import re

    out = subprocess.run(["ipcs", "-u"], capture_output=True, text=True, check=True,
                         timeout=10).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"([^\d=]*?)\s*=?\s*(\d.*)$", line)
        if m and not line.startswith("-"):
            found[m.group(1)] = [int(n) for n in re.findall(r"\d+", m.group(2))]
    return found
