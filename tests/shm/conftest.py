from __future__ import annotations

import pytest

import unixipc


@pytest.fixture
def make_segment(ipc_tracker):
    """make_segment(size=4096, **kwargs) -> a new SharedMemory, tracked."""
    made = []

    def make(key=None, size=4096, **kwargs):
        kwargs.setdefault("create", True)
        shm = unixipc.SharedMemory(key, size, **kwargs)
        ipc_tracker.track("shm", shm.id)
        made.append(shm)
        return shm

    yield make
    for shm in made:
        try:
            shm.detach()
        except (BufferError, OSError):
            pass
