from __future__ import annotations

import pytest

from unixipc import posix
from support import posix_maker


@pytest.fixture
def make_pmq():
    """make_pmq(**kwargs) -> a new POSIX message queue (create=True),
    closed and unlinked at teardown."""
    yield from posix_maker(posix.MessageQueue, "mq")
