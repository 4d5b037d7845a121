"""Errors name the object that failed, not only the system call."""

from __future__ import annotations

import errno

import pytest

import unixipc

ABSENT_KEY = 0x7E571234


@pytest.mark.parametrize("make, word", [
    (lambda: unixipc.MessageQueue(ABSENT_KEY), "message queue"),
    (lambda: unixipc.SemaphoreSet(ABSENT_KEY), "semaphore set"),
    (lambda: unixipc.SharedMemory(ABSENT_KEY, 16), "shared memory"),
])
def test_missing_key_is_named(make, word):
    with pytest.raises(FileNotFoundError) as info:
        make()
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == f"{word} key 0x7e571234"
    assert info.value.filename in str(info.value)
    assert "get:" in str(info.value)  # the system call is still named


def test_opening_smaller_segment_says_both_sizes():
    with unixipc.SharedMemory(ABSENT_KEY, 10, create=True) as shm:
        with pytest.raises(OSError, match=rf"segment {shm.id} has \d+ bytes, fewer than size=20") as info:
            unixipc.SharedMemory(ABSENT_KEY, 20)
        assert info.value.errno == errno.EINVAL
        assert unixipc.SharedMemory(ABSENT_KEY, 10).id == shm.id
