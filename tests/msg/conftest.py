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

