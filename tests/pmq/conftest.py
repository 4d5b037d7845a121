from __future__ import annotations

import pytest

from unixipc import posix
from support import posix_name


@pytest.fixture
def make_pmq():
    """make_pmq(**kwargs) -> a new POSIX message queue (create=True),
    closed and unlinked at teardown."""
    made: list[posix.MessageQueue] = []

    def make(name: str | None = None, **kwargs):
        kwargs.setdefault("create", True)
        mq = posix.MessageQueue(name or posix_name("mq"), **kwargs)
        made.append(mq)
        return mq

    yield make
    for mq in made:
        try:
            mq.unlink()
        except FileNotFoundError:
            pass
        mq.close()
