from __future__ import annotations

import pytest

import unixipc


@pytest.fixture
def make_queue(ipc_tracker):
    """make_queue(**kwargs) -> a new MessageQueue, tracked for cleanup."""

    def make(key=None, **kwargs):
        kwargs.setdefault("create", True)
        mq = unixipc.MessageQueue(key, **kwargs)
        ipc_tracker.track("msg", mq.id)
        return mq

    return make


@pytest.fixture
def queue(make_queue):
    return make_queue()
