"""Objects that name a System V object pickle as a reference (their id),
never as the creator: a child's ``with`` block cannot remove the parent's
object. One row per kind; checked under every start method."""

from __future__ import annotations

import multiprocessing
import pickle

import pytest

import unixipc

KINDS = {
    "msg": lambda: unixipc.MessageQueue(create=True),
    "sem": lambda: unixipc.SemaphoreSet(create=True, count=2),
    "shm": lambda: unixipc.SharedMemory(size=4096, create=True),
}


def _use_in_child(obj: object) -> tuple[int, bool]:
    with obj:  # type: ignore[attr-defined]
        pass
    return obj.id, obj.created  # type: ignore[attr-defined]


@pytest.fixture(params=sorted(KINDS))
def created(request):
    obj = KINDS[request.param]()
    yield obj
    try:
        obj.remove()
    except OSError:
        pass


def test_pickled_copy_is_a_reference(created):
    copy = pickle.loads(pickle.dumps(created))
    assert type(copy) is type(created)
    assert copy.id == created.id and copy.key == created.key
    assert created.created is True and copy.created is False
    with copy:
        pass
    created.stat()  # still there: the copy's with block removed nothing


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_child_with_block_keeps_parents_object(created, method):
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(1) as pool:
        child_id, child_created = pool.apply_async(_use_in_child, (created,)).get(timeout=30)
    assert child_id == created.id and child_created is False
    created.stat()
