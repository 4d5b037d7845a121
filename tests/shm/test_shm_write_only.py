"""A failed or unusual constructor leaves nothing behind: a segment
created with a mode that denies its owner read access is still usable
(and removable) by the creator, and an owner who removed their own read
bit can still open it (by key or id) to remove it."""

from __future__ import annotations

import os

import pytest

import unixipc
from support import NOBODY, Child

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")


def test_create_write_only_segment_as_non_root_keeps_handle():
    def as_nobody():
        shm = unixipc.SharedMemory(size=4096, create=True, mode=0o200)
        shmid, size, created = shm.id, shm.size, shm.created
        shm.remove()  # the owner may remove it without read permission
        return shmid, size, created

    shmid, size, created = Child(as_nobody, uid=NOBODY).result(timeout=10)
    assert size == 4096 and created is True
    assert shmid not in {seg.id for seg in unixipc.shared_memory_segments()}


def test_owner_without_read_bit_can_remove():
    def as_nobody():
        made = unixipc.SharedMemory(0x5E0A0003, 100, create=True, exclusive=True)
        made.set(mode=0o000)
        by_key = unixipc.SharedMemory(0x5E0A0003, mode=0)
        size = by_key.size
        by_key.remove()
        other = unixipc.SharedMemory(size=10, create=True, mode=0o000)
        unixipc.SharedMemory.from_id(other.id).remove()
        return made.id, other.id, size

    made, other, size = Child(as_nobody, uid=NOBODY).result(timeout=10)
    assert size == 100
    assert not {made, other} & {seg.id for seg in unixipc.shared_memory_segments()}
