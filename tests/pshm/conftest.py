from __future__ import annotations

import pytest

from unixipc import posix
from support import posix_maker


@pytest.fixture
def make_pshm():
    """make_pshm(name=None, size=..., **kwargs) -> a new named POSIX shared
    memory segment (create=True), closed and unlinked at teardown."""
    yield from posix_maker(posix.SharedMemory, "shm")
