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


@pytest.mark.parametrize("make, use, word", [
    (lambda: unixipc.MessageQueue(create=True), lambda q: q.receive(block=False),
     "message queue"),
    (lambda: unixipc.MessageQueue(create=True), lambda q: q.send(b"x"), "message queue"),
    (lambda: unixipc.SemaphoreSet(create=True), lambda s: s.op((0, 1)), "semaphore set"),
    (lambda: unixipc.SemaphoreSet(create=True), lambda s: s[0].acquire(block=False),
     "semaphore set"),
    (lambda: unixipc.SemaphoreSet(create=True), lambda s: s.values, "semaphore set"),
    (lambda: unixipc.SharedMemory(size=16, create=True), lambda m: m.read(),
     "shared memory segment"),
    (lambda: unixipc.SharedMemory(size=16, create=True), lambda m: m.stat(),
     "shared memory segment"),
])
def test_use_after_remove_says_removed(make, use, word):
    obj = make()
    obj.remove()
    with pytest.raises(unixipc.ObjectRemovedError) as info:
        use(obj)
    assert info.value.errno == errno.EINVAL  # the kernel's errno is kept
    assert info.value.filename == f"{word} {obj.id} (removed)"
    assert f"{word} {obj.id} (removed)" in str(info.value)


def test_other_errors_are_not_called_removal():
    with unixipc.SemaphoreSet(create=True) as sems:
        with pytest.raises(OSError) as info:
            unixipc._core.semctl_get(sems.id, 5, unixipc._core.GETVAL)  # index past the end
        assert info.value.errno == errno.EINVAL
        assert not isinstance(info.value, unixipc.ObjectRemovedError)
        assert info.value.filename is None
