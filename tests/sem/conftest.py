from __future__ import annotations

import pytest

import unixipc


@pytest.fixture
def make_set(ipc_tracker):
    """make_set(count=1, **kwargs) -> a new SemaphoreSet, tracked for cleanup."""

    def make(key=None, count=1, **kwargs):
        kwargs.setdefault("create", True)
        sems = unixipc.SemaphoreSet(key, count, **kwargs)
        ipc_tracker.track("sem", sems.id)
        return sems

    return make
