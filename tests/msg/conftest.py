"""Fixtures for the message queue tests."""

from __future__ import annotations

from typing import Iterator

import pytest

from unixipc import MessageQueue


@pytest.fixture
def mq(ipc_tracker) -> Iterator[MessageQueue]:
    """A fresh private queue (mode 0o600), removed after the test."""
    with MessageQueue(create=True) as q:
        ipc_tracker.track("msg", q.id)
        yield q


@pytest.fixture
def new_queue(ipc_tracker):
    """new_queue(**kwargs) -> a tracked MessageQueue made with those kwargs."""
    made: list[MessageQueue] = []

    def make(*args, **kwargs) -> MessageQueue:
        q = MessageQueue(*args, **kwargs)
        ipc_tracker.track("msg", q.id)
        made.append(q)
        return q

    yield make
    for q in made:
        try:
            q.remove()
        except OSError:
            pass



def _own_ipc_namespace() -> bool:
    """True when this process's IPC namespace is not its parent's (as under
    ``unshare --ipc python -m pytest``), or support's check says so.
    support.private_ipc_namespace() compares with /proc/1, which may be
    unreadable (it is on the development machine)."""
    import os

    from support import private_ipc_namespace

    if private_ipc_namespace():
        return True
    try:
        return os.readlink("/proc/self/ns/ipc") != os.readlink(f"/proc/{os.getppid()}/ns/ipc")
    except OSError:
        return False


@pytest.fixture
def msg_sysctl():
    """msg_sysctl(name, value): set /proc/sys/kernel/<name> (msgmax, msgmnb)
    for this test, restored afterwards. Only inside a private IPC namespace
    (these limits are per namespace), else the test is skipped."""
    if not _own_ipc_namespace():
        pytest.skip("changes IPC limits: run under unshare --ipc")
    saved: dict[str, str] = {}

    def set_limit(name: str, value: int) -> None:
        path = f"/proc/sys/kernel/{name}"
        try:
            with open(path) as f:
                old = f.read().strip()
            with open(path, "w") as f:
                f.write(str(value))
        except OSError as exc:
            pytest.skip(f"cannot set {name}: {exc}")
        saved.setdefault(name, old)

    yield set_limit
    for name, old in saved.items():
        with open(f"/proc/sys/kernel/{name}", "w") as f:
            f.write(old)
