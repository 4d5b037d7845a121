"""The rules the three System V kinds share (unixipc._sysv.SysVObject):
opening and creating, ``created``/``removed``, the context manager,
``from_id``, pickling as a reference, use after removal, ``set()`` and the
listing. One row per kind; a new System V kind adds a row."""

from __future__ import annotations

import errno
import os
import pickle
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

import unixipc
from support import NOBODY, Child, private_ipc_namespace


@dataclass(frozen=True)
class Kind:
    cls: type[Any]
    stem: str  # the tracker's kind, and /proc/sys/kernel/<stem>_next_id
    noun: str  # how errors name an object of the kind by id
    key_noun: str  # ... and by key
    listing: Callable[[], list[Any]]
    use: Callable[[Any], object]  # a call that needs the kernel object
    extra: dict[str, Any] = field(default_factory=dict)  # what a new object needs


KINDS = {
    "msg": Kind(unixipc.MessageQueue, "msg", "message queue", "message queue",
                unixipc.message_queues, lambda q: q.send(b"x", block=False)),
    "sem": Kind(unixipc.SemaphoreSet, "sem", "semaphore set", "semaphore set",
                unixipc.semaphore_sets, lambda s: s.op((0, 1)), {"count": 2}),
    "shm": Kind(unixipc.SharedMemory, "shm", "shared memory segment", "shared memory",
                unixipc.shared_memory_segments, lambda m: m.read(1), {"size": 4096}),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


@pytest.fixture
def make(kind: Kind, ipc_tracker: Any) -> Callable[..., Any]:
    """make(key=None, **kwargs): a handle of the kind (``create=True``
    unless given), its object tracked."""

    def made(key: int | None = None, **kwargs: Any) -> Any:
        obj = kind.cls(key, **{"create": True, **kind.extra, **kwargs})
        ipc_tracker.track(kind.stem, obj.id)
        return obj

    return made


@pytest.fixture
def key(kind: Kind, tmp_path: Any) -> int:
    return unixipc.ftok(tmp_path, sorted(KINDS).index(kind.stem) + 1)


def _exists(kind: Kind, obj_id: int) -> bool:
    return obj_id in {st.id for st in kind.listing()}


def _reuse_id(kind: Kind, obj_id: int, make: Callable[..., Any]) -> Any:
    """A new object that the kernel gives ``obj_id`` (a removed object's id)."""
    path = f"/proc/sys/kernel/{kind.stem}_next_id"
    if not private_ipc_namespace():  # the next id is the whole namespace's
        pytest.skip("needs an IPC namespace of its own (unshare --ipc)")
    try:
        with open(path, "w") as f:
            f.write(f"{obj_id}\n")
    except OSError as exc:
        pytest.skip(f"cannot write {path}: {exc}")
    new = make()
    if new.id != obj_id:
        new.remove()
        pytest.skip(f"id not reused ({new.id} != {obj_id})")
    return new


def test_exclusive_implies_create(kind: Kind, make: Callable[..., Any], key: int) -> None:
    obj = make(key, exclusive=True)
    assert obj.created and obj.key == key
    with pytest.raises(FileExistsError) as info:
        kind.cls(key, exclusive=True, **kind.extra)
    assert info.value.filename == f"{kind.key_noun} key {key & 0xFFFFFFFF:#010x}"


def test_private_key_always_creates(kind: Kind, make: Callable[..., Any]) -> None:
    first, second = make(None, create=False), make(None, create=False)
    assert first.created and second.created
    assert first.key == second.key == unixipc.IPC_PRIVATE
    assert first.id != second.id


def test_created_and_removed(kind: Kind, make: Callable[..., Any], key: int) -> None:
    creator = make(key)
    opened = kind.cls(key, **kind.extra)
    again = kind.cls(key, create=True, **kind.extra)
    assert (creator.created, opened.created, again.created) == (True, False, False)
    assert not (creator.removed or opened.removed or again.removed)
    opened.remove()  # an opener may remove too: removed, yet not its creator
    assert opened.removed and not opened.created
    assert not creator.removed  # another handle: not told
    assert repr(opened).endswith(" removed>")


def test_context_manager_removes_only_what_it_created(kind: Kind, make: Callable[..., Any],
                                                      key: int) -> None:
    with make(key) as creator:
        with kind.cls(key, **kind.extra) as opened:
            assert opened.id == creator.id
        assert _exists(kind, creator.id)  # the opener's exit left it alone
    assert not _exists(kind, creator.id)


def test_exit_after_remove_leaves_a_reused_id_alone(kind: Kind,
                                                    make: Callable[..., Any]) -> None:
    with make() as obj:
        obj.remove()
        new = _reuse_id(kind, obj.id, make)
    assert _exists(kind, new.id)  # not removed a second time, as someone else's
    new.remove()


def test_second_remove_is_refused_without_touching_a_reused_id(
        kind: Kind, make: Callable[..., Any]) -> None:
    obj = make()
    obj.remove()
    new = _reuse_id(kind, obj.id, make)
    with pytest.raises(unixipc.ObjectRemovedError) as info:
        obj.remove()
    assert info.value.filename == f"{kind.noun} {obj.id} (removed)"
    assert _exists(kind, new.id)
    new.remove()


def test_from_id_round_trip(kind: Kind, make: Callable[..., Any], key: int) -> None:
    obj = make(key)
    copy = kind.cls.from_id(obj.id)
    assert type(copy) is kind.cls
    assert (copy.id, copy.key, copy.created) == (obj.id, key, False)
    assert repr(copy) == repr(obj)
    with copy:
        pass
    assert _exists(kind, obj.id)


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (2**31, ValueError),
                                        (True, TypeError), ("1", TypeError)])
def test_from_id_checks_the_id(kind: Kind, bad: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        kind.cls.from_id(bad)


def test_pickles_as_a_reference(kind: Kind, make: Callable[..., Any]) -> None:
    obj = make()
    copy = pickle.loads(pickle.dumps(obj))
    assert type(copy) is kind.cls
    assert (copy.id, copy.key, copy.created) == (obj.id, obj.key, False)
    with copy:
        pass
    assert _exists(kind, obj.id)


def test_use_after_remove_names_the_object(kind: Kind, make: Callable[..., Any]) -> None:
    obj = make()
    obj.remove()
    name = f"{kind.noun} {obj.id} (removed)"
    for call in (obj.stat, lambda: obj.set(mode=0o600), obj.remove, lambda: kind.use(obj),
                 lambda: kind.cls.from_id(obj.id)):
        with pytest.raises(unixipc.ObjectRemovedError) as info:
            call()
        assert info.value.filename == name


def test_set_changes_only_what_is_given(kind: Kind, make: Callable[..., Any]) -> None:
    obj = make(mode=0o600)
    before = obj.stat().perm
    obj.set(mode=0o640)
    after = obj.stat().perm
    assert (after.mode & 0o777, after.uid, after.gid) == (0o640, before.uid, before.gid)
    obj.set(uid=before.uid, gid=before.gid)
    assert obj.stat().perm.mode & 0o777 == 0o640


@pytest.mark.parametrize("kwargs, error", [
    ({"mode": 0o1000}, ValueError), ({"mode": "0o600"}, TypeError),
    ({"uid": -1}, ValueError), ({"uid": 2**32}, ValueError), ({"uid": "0"}, TypeError),
    ({"gid": 2**32 - 1}, ValueError), ({"gid": 1.0}, TypeError),
])
def test_set_checks_before_changing(kind: Kind, make: Callable[..., Any],
                                    kwargs: dict[str, object], error: type[Exception]) -> None:
    obj = make()
    before = obj.stat()
    with pytest.raises(error):
        obj.set(**kwargs)
    assert obj.stat().perm == before.perm and obj.stat().change_time == before.change_time


@pytest.mark.parametrize("kwargs, error", [
    ({"key": 2**32}, ValueError), ({"key": "1"}, TypeError), ({"key": True}, TypeError),
    ({"mode": 0o1000}, ValueError), ({"mode": -1}, ValueError), ({"mode": "0o600"}, TypeError),
])
def test_constructor_checks_before_any_call(kind: Kind, kwargs: dict[str, Any],
                                            error: type[Exception]) -> None:
    before = {st.id for st in kind.listing()}
    with pytest.raises(error):
        kind.cls(**{"create": True, **kind.extra, **kwargs})
    assert {st.id for st in kind.listing()} == before


def test_listing_finds_the_object(kind: Kind, make: Callable[..., Any], key: int) -> None:
    obj = make(key, mode=0o640)
    found = [st for st in kind.listing() if st.id == obj.id]
    assert len(found) == 1
    assert found[0].perm.key == key and found[0].perm.mode & 0o777 == 0o640
    assert found[0].perm.uid == os.geteuid()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")
def test_only_the_owner_may_remove_or_set(kind, make):
    obj = make(mode=0o600)

    def as_nobody() -> dict[str, int]:
        out = {}
        try:
            obj.remove()  # the parent's handle, inherited by fork
        except PermissionError as exc:
            out["remove"] = exc.errno
        try:
            obj.set(mode=0o666)
        except PermissionError as exc:
            out["set"] = exc.errno
        return out

    assert Child(as_nobody, uid=NOBODY).result(timeout=10) == {
        "remove": errno.EPERM, "set": errno.EPERM}
    assert _exists(kind, obj.id) and obj.stat().perm.mode & 0o777 == 0o600

