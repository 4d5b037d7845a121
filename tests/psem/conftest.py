from __future__ import annotations

import pytest

from unixipc import posix
from support import posix_maker


@pytest.fixture
def make_psem():
    """make_psem(**kwargs) -> a new named POSIX semaphore (create=True),
    closed and unlinked at teardown."""
    yield from posix_maker(posix.Semaphore, "sem")
