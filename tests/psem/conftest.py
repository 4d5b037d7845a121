from __future__ import annotations

import pytest

from unixipc import posix
from support import posix_name


@pytest.fixture
def make_psem():
    """make_psem(**kwargs) -> a new named POSIX semaphore (create=True),
    closed and unlinked at teardown."""
    made: list[posix.Semaphore] = []

    def make(name: str | None = None, **kwargs):
        kwargs.setdefault("create", True)
        sem = posix.Semaphore(name or posix_name(), **kwargs)
        made.append(sem)
        return sem

    yield make
    for sem in made:
        try:
            sem.unlink()
        except FileNotFoundError:
            pass
        sem.close()
