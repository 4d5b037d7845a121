"""Pickling into multiprocessing children, under every start method.
Objects that name a System V object pickle as a reference (their id),
never as the creator: a child's ``with`` block cannot remove the parent's
object. Descriptor-based objects (pipe ends, socket channels, shared-memory
channels) pickle through multiprocessing's descriptor passing. One row per
kind."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from typing import Any

import pytest

import unixipc
from unixipc import posix
from support import posix_name

KINDS = {
    "msg": lambda: unixipc.MessageQueue(create=True),
    "sem": lambda: unixipc.SemaphoreSet(create=True, count=2),
    "shm": lambda: unixipc.SharedMemory(size=4096, create=True),
}


METHODS = ["fork", "spawn", "forkserver"]


@pytest.fixture(scope="module")
def pools() -> Any:
    """A pool of one worker per start method, for the whole module. What
    these tests check crosses into the child by pickling, with each task (a
    worker's start carries none of it): a worker that takes many tasks
    proves the same as one per test, and a worker started by spawn or
    forkserver is a fresh interpreter importing this module, pytest and
    unixipc before its first task, up to 1.4 s each under the sanitizers.
    The fork worker starts first and before any test's objects exist, so
    it holds none of their descriptors (everything it gets is passed)."""
    made = {method: multiprocessing.get_context(method).Pool(1) for method in METHODS}
    yield made
    for pool in made.values():
        pool.terminate()
        pool.join()


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


@pytest.mark.parametrize("method", METHODS)
def test_child_with_block_keeps_parents_object(created, method, pools):
    child_id, child_created = pools[method].apply_async(_use_in_child,
                                                        (created,)).get(timeout=30)
    assert child_id == created.id and child_created is False
    created.stat()


# ---- descriptor-based objects ------------------------------------------------
# They pickle through multiprocessing's descriptor passing: the child gets a
# descriptor of its own for the same pipe, socket or ring. Each row makes a
# pair (the object sent to the child, the end the parent keeps) and says how
# each side talks through it.

def _pipe_writer():
    p = unixipc.Pipe()
    return p.writer, p.reader


def _pipe_reader():
    p = unixipc.Pipe()
    return p.reader, p.writer


def _channel(kind):
    def make():
        a, b = unixipc.sockets.MessageChannel.pair(kind)
        return a, b
    return make


def _shm_channel():
    ch = unixipc.ShmChannel(capacity=1 << 16)
    return ch, ch


def _anonymous_segment():
    shm = posix.SharedMemory.anonymous(4096, name="pickled")
    return shm, shm


def _child_talks(obj: object) -> bytes:
    """In the child: write or send b"from child", or read what the parent
    sent; closes its copy."""
    with obj:  # type: ignore[attr-defined]
        if isinstance(obj, unixipc.PipeWriter):
            obj.write(b"from child")
            return b""
        if isinstance(obj, unixipc.PipeReader):
            return obj.read(100, timeout=10)
        if isinstance(obj, unixipc.ShmChannel):
            obj.send(b"from child", timeout=10)
            return b""
        if isinstance(obj, posix.SharedMemory):
            got = obj.read(11)
            with obj.attach() as view:  # a mapping of the same memory
                view[100:110] = b"from child"
            obj.detach()
            return got
        got = obj.receive(timeout=10).data  # type: ignore[attr-defined]
        obj.send(b"from child")  # type: ignore[attr-defined]
        return got


@pytest.fixture(autouse=True)
def _no_descriptor_server_left() -> Any:
    """Descriptors pickled outside a child's start go through
    multiprocessing's resource sharer, a listener thread of this process.
    A child made later by a raw os.fork inherits its state but not the
    thread, and multiprocessing resets it only in children it starts
    itself: such a child's own passing would then ask this process's
    listener. Stop it after each test, as the test found it."""
    yield
    from multiprocessing import resource_sharer
    resource_sharer.stop()


FD_KINDS = {
    "pipe_writer": _pipe_writer,
    "pipe_reader": _pipe_reader,
    "channel_stream": _channel("stream"),
    "channel_seqpacket": _channel("seqpacket"),
    "shm_channel": _shm_channel,
    "posix_shared_memory_anonymous": _anonymous_segment,
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", sorted(FD_KINDS))
def test_descriptor_objects_reach_a_child(kind, method, pools):
    sent, kept = FD_KINDS[kind]()
    try:
        if isinstance(kept, unixipc.PipeWriter):
            kept.write(b"from parent")
        elif isinstance(kept, posix.SharedMemory):
            kept.write(b"from parent")
        elif isinstance(kept, unixipc.sockets.MessageChannel):
            kept.send(b"from parent")
        child_got = pools[method].apply_async(_child_talks, (sent,)).get(timeout=30)
        if isinstance(kept, unixipc.PipeWriter):
            assert child_got == b"from parent"
        elif isinstance(kept, unixipc.PipeReader):
            assert kept.read(100, timeout=10) == b"from child"
        elif isinstance(kept, unixipc.ShmChannel):
            assert kept.receive(timeout=10) == b"from child"
        elif isinstance(kept, posix.SharedMemory):
            assert child_got == b"from parent"
            assert kept.read(10, 100) == b"from child"
            assert kept.created and not kept.closed  # the parent's own object
        else:
            assert child_got == b"from parent"
            assert kept.receive(timeout=10).data == b"from child"
        assert not sent.closed  # the parent's own object is untouched
    finally:
        sent.close()
        kept.close()


def test_a_channel_in_the_middle_of_a_message_refuses_to_pickle():
    a, b = unixipc.sockets.MessageChannel.pair()
    with a, b:
        a.send(b"one")
        a.send(b"two")
        assert b.receive(timeout=5).data == b"one"  # "two" is now buffered in b
        with pytest.raises(TypeError, match="middle of a message"):
            pickle.dumps(b)
        assert b.receive(timeout=5).data == b"two"
        pickle.loads(pickle.dumps(b)).close()  # between messages it can


def test_a_closed_descriptor_object_refuses_to_pickle():
    p = unixipc.Pipe()
    p.reader.close()
    a, b = unixipc.sockets.MessageChannel.pair()
    a.close()
    try:
        for obj in (p.reader, a):
            with pytest.raises(ValueError):
                pickle.dumps(obj)
    finally:
        p.writer.close()
        b.close()


# ---- named POSIX objects -------------------------------------------------------
# They pickle as a reference by name, never as the creator: the child opens
# the same object, and its ``with`` block or close never unlinks the
# parent's. One row per kind: (make a new object, does its name exist).


def _queue_exists(name: str) -> bool:
    try:
        posix.MessageQueue(name).close()
    except FileNotFoundError:
        return False
    return True


NAMED_KINDS = {
    "posix_semaphore": (lambda: posix.Semaphore(posix_name("pickle"), exclusive=True),
                        lambda name: os.path.exists("/dev/shm/sem." + name[1:])),
    "posix_message_queue": (lambda: posix.MessageQueue(posix_name("pickle"), exclusive=True),
                            _queue_exists),
    "posix_shared_memory": (lambda: posix.SharedMemory(posix_name("pickle"), 4096,
                                                       exclusive=True),
                            lambda name: os.path.exists("/dev/shm" + name)),
}


def _use_named_in_child(obj: object) -> tuple[str, bool]:
    with obj:  # type: ignore[attr-defined]
        pass
    return obj.name, obj.created  # type: ignore[attr-defined]


@pytest.fixture(params=sorted(NAMED_KINDS))
def named(request):
    make, exists = NAMED_KINDS[request.param]
    obj = make()
    yield obj, lambda: exists(obj.name)
    obj.unlink()
    obj.close()


def test_named_pickled_copy_is_a_reference(named):
    obj, exists = named
    copy = pickle.loads(pickle.dumps(obj))
    assert type(copy) is type(obj) and copy.name == obj.name
    assert obj.created is True and copy.created is False
    with copy:
        pass
    assert exists()


@pytest.mark.parametrize("method", METHODS)
def test_named_child_with_block_keeps_parents_object(named, method, pools):
    obj, exists = named
    name, child_created = pools[method].apply_async(_use_named_in_child,
                                                    (obj,)).get(timeout=30)
    assert name == obj.name and child_created is False
    assert exists()


def test_an_unnamed_semaphore_refuses_to_pickle_saying_what_to_do():
    """A semaphore in a buffer cannot travel by reference (a buffer has no
    name a child could open): TypeError pointing at Semaphore.at."""
    import mmap
    m = mmap.mmap(-1, 4096)
    sem = posix.Semaphore.in_buffer(m)
    try:
        with pytest.raises(TypeError, match=r"Semaphore\.at"):
            pickle.dumps(sem)
    finally:
        sem.close()
        m.close()
