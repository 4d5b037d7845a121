"""Semaphore sets without read permission, as uid 65534: a set created with
mode 0o200 gives a usable handle and nothing is left behind; an existing
set opened for altering only (``mode=0o200``) takes semop and SETALL; an
owner who removed their own read bit can still remove the set."""

from __future__ import annotations

import errno
import os

import pytest

import unixipc
from support import NOBODY, Child

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")


def set_ids() -> set[int]:
    return {st.id for st in unixipc.semaphore_sets()}


@pytest.mark.parametrize("initial", [None, [1, 2, 3]])
def test_create_write_only_set_as_non_root_keeps_handle(initial):
    before = set_ids()

    def as_nobody():
        sems = unixipc.SemaphoreSet(None, 3, create=True, mode=0o200, initial=initial)
        try:
            sems.op((0, 1), (2, 1))  # alter permission is all semop needs
            sems.values = [4, 5, 6]  # SETALL too
            try:
                sems.values  # GETALL needs read
            except PermissionError as exc:
                denied = exc.errno
            return sems.created, len(sems), denied
        finally:
            sems.remove()  # the owner, without read permission

    created, count, denied = Child(as_nobody, uid=NOBODY).result(timeout=10)
    assert (created, count, denied) == (True, 3, errno.EACCES)
    assert set_ids() == before  # nothing left behind


def test_write_only_user_opens_existing_set_for_altering(make_set):
    sems = make_set(0x5E0A0001, 2, mode=0o622, initial=[0, 0])

    def as_nobody():
        try:
            unixipc.SemaphoreSet(0x5E0A0001, 2)  # asks for read and alter
        except PermissionError as exc:
            refused = (exc.errno, exc.filename)
        by_key = unixipc.SemaphoreSet(0x5E0A0001, 2, mode=0o200)
        by_key.op((0, 2))
        by_key[1].release(undo=False)
        by_id = unixipc.SemaphoreSet.from_id(sems.id)
        by_id.values = [3, 1]
        return refused, len(by_key), by_key.created, by_id.key, len(by_id)

    refused, count, created, key, id_count = Child(as_nobody, uid=NOBODY).result(timeout=10)
    assert refused == (errno.EACCES, "semaphore set key 0x5e0a0001")
    assert (count, created, key, id_count) == (2, False, 0x5E0A0001, 2)
    assert sems.values == [3, 1]


def test_owner_without_read_bit_can_remove():
    def as_nobody():
        made = unixipc.SemaphoreSet(0x5E0A0002, 1, create=True, exclusive=True)
        made.set(mode=0o000)
        unixipc.SemaphoreSet(0x5E0A0002, mode=0).remove()
        other = unixipc.SemaphoreSet(None, create=True, mode=0o000)
        unixipc.SemaphoreSet.from_id(other.id).remove()
        return made.id, other.id

    ids = Child(as_nobody, uid=NOBODY).result(timeout=10)
    assert not set(ids) & set_ids()
