"""unixipc.Queue, JoinableQueue and SimpleQueue between real processes.

Every wait is bounded; children are multiprocessing processes (fork, spawn,
forkserver) or forked children from support.Child."""

from __future__ import annotations

import concurrent.futures
import gc
import hashlib
import multiprocessing
import os
import pickle
import queue
import random
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import unixipc
from unixipc import JoinableQueue, Queue, SimpleQueue

from support import Child, wait_until

METHODS = ["fork", "spawn", "forkserver"]


def _fds() -> set[str]:
    """This process's open descriptors (without the one the listing used)."""
    gc.collect()  # queues of earlier tests close their channels when collected
    return {fd for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")}


# -- children (module level: spawn and forkserver import them) -------------------

def _put_range(q, start: int, stop: int) -> None:
    for i in range(start, stop):
        q.put({"i": i, "s": str(i)})


def _put_array(q, n: int) -> None:
    q.put(np.arange(n, dtype=np.uint8) * 3)
    q.put("after")


def _echo(q_in, q_out) -> None:
    for obj in iter(q_in.get, None):
        q_out.put(obj)


_worker_queue = None


def _init_worker(q) -> None:
    global _worker_queue
    _worker_queue = q


def _report(x: int) -> int:
    _worker_queue.put(x * x)
    return x


def _consume_tasks(q) -> None:
    for _ in iter(q.get, None):
        time.sleep(0.001)
        q.task_done()
    q.task_done()


def _simple_child(q_in, q_out) -> None:
    q_out.put(q_in.get() + 1)


def _producer(q, who: int, count: int) -> None:
    rng = random.Random(who)
    for seq in range(count):
        body = rng.randbytes(rng.randrange(0, 2048))
        q.put((who, seq, hashlib.blake2b(body, digest_size=8).digest(), body))


def _consumer(q, out) -> None:
    got = []
    for item in iter(q.get, None):
        who, seq, digest, body = item
        assert hashlib.blake2b(body, digest_size=8).digest() == digest
        got.append((who, seq))
    out.put(got)


# -- start methods, pools ---------------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", METHODS)
def test_objects_from_a_child_under_every_start_method(method):
    ctx = multiprocessing.get_context(method)
    q = Queue(ctx=ctx)
    p = ctx.Process(target=_put_range, args=(q, 0, 2000))
    p.start()
    try:
        assert [q.get(timeout=30)["i"] for _ in range(2000)] == list(range(2000))
        p.join(30)
        assert p.exitcode == 0
        assert q.empty() and q.qsize() == 0
    finally:
        p.kill()
        q.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", METHODS)
def test_pool_initializer_and_process_pool_executor_initargs(method):
    ctx = multiprocessing.get_context(method)
    q = Queue(ctx=ctx)
    with ctx.Pool(2, initializer=_init_worker, initargs=(q,)) as pool:
        assert sorted(pool.map(_report, range(20))) == list(range(20))
    assert sorted(q.get(timeout=10) for _ in range(20)) == [x * x for x in range(20)]
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx, initializer=_init_worker,
                                                initargs=(q,)) as ex:
        assert sorted(ex.map(_report, range(10))) == list(range(10))
    assert sorted(q.get(timeout=10) for _ in range(10)) == [x * x for x in range(10)]
    q.close()


def test_pickling_outside_a_process_start_is_refused_as_multiprocessing_does():
    for q in (Queue(), JoinableQueue(), SimpleQueue()):
        with pytest.raises(RuntimeError, match="inheritance"):
            pickle.dumps(q)
        q.close()


# -- put and get --------------------------------------------------------------------

def test_pickling_errors_raise_at_put_and_leave_the_queue_as_it_was():
    class Unpicklable:
        def __reduce__(self):
            raise AttributeError("no")

    q = Queue(maxsize=1)
    with pytest.raises(AttributeError):
        q.put(Unpicklable())
    assert q.qsize() == 0 and not q.full()
    q.put("ok", timeout=1)
    assert q.get(timeout=1) == "ok"
    q.close()


def test_full_empty_timeouts_and_block_false():
    q = Queue(maxsize=2)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    start = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    assert time.monotonic() - start >= 0.04
    with pytest.raises(queue.Empty):
        q.get(True, 0)
    q.put(1)
    q.put_nowait(2)
    assert q.full() and q.qsize() == 2 and not q.empty()
    with pytest.raises(queue.Full):
        q.put(3, False)
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.02)
    assert [q.get(), q.get(False)] == [1, 2]
    assert q.empty() and not q.full()
    q.close()


def test_close_rules_follow_multiprocessing():
    q = Queue()
    q.close()
    q.join_thread()
    assert q.empty()  # never used: close() had nothing to close
    with pytest.raises(ValueError, match="is closed"):
        q.put(1)
    with pytest.raises(ValueError, match="is closed"):
        q.get()
    used = JoinableQueue()
    used.put("x")
    used.close()
    used.join_thread()
    with pytest.raises(OSError, match="is closed") as info:
        used.empty()
    assert info.value.errno == 9
    q2 = Queue()
    with pytest.raises(AssertionError):
        q2.join_thread()  # not closed
    q2.close()


def test_bytes_bytearray_and_out_of_band_buffers_round_trip():
    q = Queue(capacity=1 << 16)
    arr = np.arange(1000, dtype=np.float64).reshape(10, 100)
    values = [b"", b"raw bytes", bytearray(b"ba" * 1000), arr, arr[:, ::3],
              {"nested": [bytearray(b"n"), arr[0], b"b" * 10]}, pickle.PickleBuffer(b"pb")]
    for v in values:
        q.put(v)
    out = [q.get(timeout=5) for _ in values]
    assert out[0] == b"" and out[1] == b"raw bytes" and type(out[1]) is bytes
    assert out[2] == values[2] and type(out[2]) is bytearray
    assert np.array_equal(out[3], arr) and out[3].flags.writeable
    assert np.array_equal(out[4], arr[:, ::3])
    assert out[5]["nested"][0] == bytearray(b"n") and np.array_equal(out[5]["nested"][1], arr[0])
    assert bytes(out[6]) == b"pb"
    out[3][0, 0] = 42.0  # its own memory, not the ring's
    q.put(b"next")
    assert q.get(timeout=5) == b"next"
    q.close()


class _SlowReduce:
    """Pickled through a Python __reduce__ that lets other threads run
    (a thread switch in the middle of put's pickling)."""

    def __init__(self, tag: int) -> None:
        self.tag = tag

    def __reduce__(self):
        time.sleep(0)
        return (_SlowReduce, (self.tag,))


def test_threads_putting_out_of_band_buffers_never_mix_them():
    """A thread switch in the middle of put's pickling never hands one
    thread's out-of-band buffers to another thread's object, nor to an
    object of no buffers (put's C part reuses its buffer callback between
    calls that find none)."""
    import threading
    q = Queue(capacity=1 << 22)
    per_thread, threads = 300, 4

    def producer(t: int) -> None:
        for i in range(per_thread):
            arr = np.full(64, t * 1000 + i, dtype=np.int64)
            q.put([arr, _SlowReduce(t), np.full(8, -t, dtype=np.int64)])
            q.put(("plain", t, _SlowReduce(t)))

    workers = [threading.Thread(target=producer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    got = [q.get(timeout=30) for _ in range(2 * per_thread * threads)]
    for w in workers:
        w.join(timeout=30)
    seen = set()
    plain = [item for item in got if isinstance(item, tuple)]
    assert len(plain) == per_thread * threads
    assert all(item[0] == "plain" and item[1] == item[2].tag for item in plain)
    for arr, slow, tail in (item for item in got if not isinstance(item, tuple)):
        assert (arr == arr[0]).all() and arr[0] // 1000 == slow.tag
        assert (tail == -slow.tag).all()
        seen.add(int(arr[0]))
    assert len(seen) == per_thread * threads
    q.close()


def test_buffers_are_copied_at_put_even_when_the_ring_is_full():
    q = Queue(capacity=4096)
    filler = [b"f" * 1500 for _ in range(10)]
    for f in filler:
        q.put(f)  # the ring holds two; the rest waits in the feeder thread
    arr = np.zeros(100, dtype=np.uint8)
    q.put(arr)
    arr[:] = 7  # after put: the queue holds the object as it was at put
    assert [q.get(timeout=5) for _ in filler] == filler
    assert not q.get(timeout=5).any()
    q.close()
    q.join_thread()


@pytest.mark.timeout(60)
def test_put_never_waits_for_the_ring_and_a_child_flushes_at_exit():
    ctx = multiprocessing.get_context("fork")
    q = Queue(ctx=ctx, capacity=4096)
    n = 500
    for i in range(n):
        q.put(i.to_bytes(2, "big") * 500)  # 1000 bytes each, far more than the ring holds
    p = ctx.Process(target=_put_range, args=(q, 0, 300))
    p.start()  # it puts into a full ring too, and must deliver before it exits
    try:
        got = [q.get(timeout=10) for _ in range(n + 300)]
        p.join(10)
        assert p.exitcode == 0
    finally:
        p.kill()
    mine = [g for g in got if isinstance(g, bytes)]
    theirs = [g["i"] for g in got if isinstance(g, dict)]
    assert mine == [i.to_bytes(2, "big") * 500 for i in range(n)]
    assert theirs == list(range(300))
    q.close()
    q.join_thread()


# -- objects larger than the ring ---------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_arrays_larger_than_the_ring_from_a_child(method):
    ctx = multiprocessing.get_context(method)
    q = Queue(ctx=ctx, capacity=1 << 16)
    for n in (1 << 20, 64 << 20):
        p = ctx.Process(target=_put_array, args=(q, n))
        p.start()
        try:
            a = q.get(timeout=60)
            assert q.get(timeout=10) == "after"
            p.join(30)
            assert p.exitcode == 0
        finally:
            p.kill()
        assert a.shape == (n,) and a.flags.writeable
        assert np.array_equal(a, np.arange(n, dtype=np.uint8) * 3)
        a[:10] = 0  # the receiver owns it
    q.close()


@pytest.mark.timeout(180)
def test_a_one_gib_array_through_the_queue():
    q = Queue()
    a = np.ones(1 << 30, dtype=np.uint8)
    a[::4096] = np.arange(len(a[::4096]), dtype=np.uint8)
    digest = hashlib.blake2b(a).digest()

    def child() -> None:
        q.put(a)
        q.close()
        q.join_thread()  # returns once the parent has the file

    c = Child(child)
    del a
    got = q.get(timeout=120)
    assert got.nbytes == 1 << 30 and hashlib.blake2b(got).digest() == digest
    c.result(timeout=60)
    q.close()


def test_a_big_object_whose_sender_was_killed_is_skipped_with_a_warning():
    fds = _fds()
    q = Queue(capacity=1 << 16)

    def child() -> None:
        q.put(np.zeros(1 << 20))
        q.put("small")
        os.kill(os.getpid(), signal.SIGKILL)

    c = Child(child)
    c.wait(timeout=20)
    assert os.WTERMSIG(c._status) == signal.SIGKILL
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert q.get(timeout=10) == "small"
    assert any("was lost" in str(w.message) for w in caught)
    assert q.qsize() == 0
    c.close()
    q.close()
    assert _fds() == fds


def _memory_files() -> set[str]:
    """This process's descriptors of queue memory files (a mapping's own
    descriptor included)."""
    found = set()
    for fd in _fds():
        try:
            if "unixipc-queue-object" in os.readlink(f"/proc/self/fd/{fd}"):
                found.add(fd)
        except OSError:
            pass
    return found


@pytest.fixture
def no_kept_files():
    """This process keeps no memory file of earlier tests for reuse."""
    from unixipc import queue as uqueue

    def drop() -> None:
        with uqueue._files_lock:
            uqueue._files.reap()
            while uqueue._files.taken:
                os.close(uqueue._files.taken.popleft()[0])
    drop()
    yield
    drop()


def test_memory_files_once_taken_are_kept_for_reuse_two_at_most(no_kept_files):
    q = Queue(capacity=1 << 16)
    fds = _fds()
    kept = []
    for i in range(5):  # every object kept: no file can be written again
        q.put(np.full(1 << 17, i))
        kept.append(q.get(timeout=5))
    q.put(b"x")
    q.get(timeout=5)
    from unixipc import queue as uqueue
    with uqueue._files_lock:
        uqueue._files.reap()
    assert len(uqueue._files.taken) == uqueue._REUSE_FILES
    assert all(np.array_equal(a, np.full(1 << 17, i)) for i, a in enumerate(kept))
    del kept
    gc.collect()  # the objects' mappings and descriptors are gone
    assert _fds() - fds == {str(entry[0]) for entry in uqueue._files.taken}
    q.close()  # the queue's kept files are closed with it
    assert not _memory_files() and not uqueue._files.taken


def test_kept_memory_files_are_the_queues_own_and_go_with_it(no_kept_files):
    """A file kept by one queue is never written by another, and a queue
    collected unclosed lets its kept files go at the next put of a big
    object."""
    from unixipc import queue as uqueue
    first, second = Queue(capacity=1 << 16), Queue(capacity=1 << 16)
    first.put(np.full(1 << 17, 1))
    assert first.get(timeout=5)[0] == 1  # taken and released at once
    with uqueue._files_lock:
        uqueue._files.reap()
    (kept, _, _), = uqueue._files.taken
    second.put(np.full(1 << 17, 2))
    assert second.get(timeout=5)[0] == 2
    with uqueue._files_lock:
        uqueue._files.reap()
    assert len(uqueue._files.taken) == 2 and uqueue._files.taken[0][0] == kept
    first.put(np.full(1 << 17, 3))  # into its own file again
    assert first.get(timeout=5)[0] == 3
    with uqueue._files_lock:
        uqueue._files.reap()
    assert kept in [entry[0] for entry in uqueue._files.taken]
    del first
    gc.collect()
    second.put(np.full(1 << 17, 4))
    assert second.get(timeout=5)[0] == 4
    with uqueue._files_lock:
        uqueue._files.reap()
    assert kept not in [entry[0] for entry in uqueue._files.taken]
    assert [entry[1] for entry in uqueue._files.taken] == [id(second)]
    second.close()
    assert not uqueue._files.taken


def test_a_released_memory_file_is_written_again_a_held_one_never(no_kept_files):
    """A file whose object is gone is written again (its pages are there
    already); while the receiver holds the object, the file is never
    written: every object kept reads as it was put."""
    q = Queue(capacity=1 << 16)
    for i in range(20):
        q.put(np.full(1 << 17, i))
        assert np.array_equal(q.get(timeout=5), np.full(1 << 17, i))
    assert len(_memory_files()) <= 1  # the same file each time
    kept = []
    for i in range(8):
        q.put(np.full(1 << 17, 100 + i))
        kept.append(q.get(timeout=5))
        for j, a in enumerate(kept):
            assert np.array_equal(a, np.full(1 << 17, 100 + j)), (i, j)
    q.close()


def test_a_received_object_from_before_a_fork_keeps_its_file(no_kept_files):
    """A fork child maps the same pages: once a process has forked, the
    objects it took before never let their files be written again, even
    when the parent's copy is gone."""
    q = Queue(capacity=1 << 16)
    q.put(np.full(1 << 17, 7))
    held = q.get(timeout=5)
    r, w = os.pipe()

    def child() -> bool:
        os.close(w)
        os.read(r, 1)  # the parent has dropped its copy and put more
        return bool(np.array_equal(held, np.full(1 << 17, 7)))

    c = Child(child)
    os.close(r)
    try:
        del held
        gc.collect()
        for i in range(5):
            q.put(np.full(1 << 17, i))
            assert np.array_equal(q.get(timeout=5), np.full(1 << 17, i))
        os.write(w, b"g")
    finally:
        os.close(w)  # a failure above ends the child's wait too
    assert c.result(timeout=30)
    q.close()


def test_a_receiver_in_another_process_releases_files_for_reuse(no_kept_files):
    q = Queue(capacity=1 << 16)
    back = Queue()

    def child() -> None:
        for _ in range(10):
            a = q.get(timeout=30)
            value = int(a[0]) if np.all(a == a[0]) else -1
            del a  # released: before the answer
            back.put(value)

    c = Child(child)
    for i in range(10):
        q.put(np.full(1 << 17, i))
        assert back.get(timeout=30) == i
    c.result(timeout=30)
    from unixipc import queue as uqueue
    with uqueue._files_lock:
        uqueue._files.reap()
    # the child released each file before it answered: one file did for all
    assert len(_memory_files()) == 1
    q.close()
    back.close()


# -- no lock on the path ---------------------------------------------------------------

@pytest.mark.timeout(60)
def test_a_killed_getter_or_putter_never_blocks_the_others():
    q = Queue(capacity=1 << 14)
    getter = Child(lambda: q.get(timeout=30))
    time.sleep(0.2)  # blocked in get
    getter.kill()
    getter.wait()

    def putter() -> None:
        while True:
            q.put(b"p" * 100)

    p = Child(putter)
    wait_until(lambda: q.qsize() > 50, timeout=10)
    p.kill()
    p.wait()
    n = 0
    while True:
        try:
            assert q.get(timeout=0.2) == b"p" * 100
            n += 1
        except queue.Empty:
            break
    assert n > 50
    q.put("still works", timeout=1)
    assert q.get(timeout=1) == "still works"
    q.close()


@pytest.mark.timeout(180)
def test_four_producers_four_consumers_exactly_once_in_order():
    ctx = multiprocessing.get_context("fork")
    q = Queue(ctx=ctx, capacity=1 << 16)
    out = Queue(ctx=ctx)
    count = 3000
    producers = [ctx.Process(target=_producer, args=(q, w, count)) for w in range(4)]
    consumers = [ctx.Process(target=_consumer, args=(q, out)) for _ in range(4)]
    for p in producers + consumers:
        p.start()
    try:
        for p in producers:
            p.join(120)
            assert p.exitcode == 0
        for _ in consumers:
            q.put(None)
        results = [out.get(timeout=60) for _ in consumers]
        for p in consumers:
            p.join(30)
            assert p.exitcode == 0
    finally:
        for p in producers + consumers:
            p.kill()
    everything = [x for r in results for x in r]
    assert sorted(everything) == [(w, s) for w in range(4) for s in range(count)]
    for r in results:  # each sender's messages reach each receiver in order
        for w in range(4):
            seqs = [s for who, s in r if who == w]
            assert seqs == sorted(seqs)
    q.close()
    out.close()


# -- JoinableQueue, SimpleQueue ------------------------------------------------------

@pytest.mark.timeout(60)
def test_joinable_queue_join_waits_for_every_task_done():
    ctx = multiprocessing.get_context("fork")
    q = JoinableQueue(ctx=ctx)
    workers = [ctx.Process(target=_consume_tasks, args=(q,)) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        for i in range(50):
            q.put(i)
        q.join()
        assert q.qsize() == 0
        for _ in workers:
            q.put(None)
        q.join()
        for w in workers:
            w.join(10)
            assert w.exitcode == 0
    finally:
        for w in workers:
            w.kill()
    with pytest.raises(ValueError, match="too many"):
        q.task_done()
    q.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", METHODS)
def test_simple_queue_under_every_start_method(method):
    ctx = multiprocessing.get_context(method)
    q, back = SimpleQueue(ctx=ctx), SimpleQueue(ctx=ctx)
    assert q.empty()
    q.put(41)
    assert not q.empty()
    p = ctx.Process(target=_simple_child, args=(q, back))
    p.start()
    try:
        wait_until(lambda: not back.empty(), timeout=30)
        assert back.get() == 42 and q.empty()
        p.join(20)
        assert p.exitcode == 0
    finally:
        p.kill()
    q.close()
    back.close()
    with pytest.raises(OSError, match="is closed"):
        q.get()


def test_simple_queue_big_object_waits_for_a_receiver():
    q = SimpleQueue()
    c = Child(lambda: q.put(np.arange(1 << 20)))
    wait_until(lambda: not q.empty(), timeout=20)  # SimpleQueue.get has no timeout
    a = q.get()
    assert np.array_equal(a, np.arange(1 << 20))
    c.result(timeout=20)
    q.close()


def test_the_queues_are_exported_at_the_top_level():
    for name in ("Queue", "SimpleQueue", "JoinableQueue"):
        assert name in unixipc.__all__ and getattr(unixipc, name).__module__ == "unixipc.queue"
    assert Queue[int] is not None  # generic alias, as multiprocessing's


_EXIT_SCRIPT = r"""
import multiprocessing, sys
import unixipc

def consume(q, n, out):
    out.put(sum(len(q.get(timeout=30)) for _ in range(n)))

if __name__ == "__main__":
    ctx = multiprocessing.get_context("fork")
    q = unixipc.Queue(ctx=ctx, capacity=4096)
    out = unixipc.Queue(ctx=ctx)
    for i in range(200):
        q.put(b"m" * 1000)        # most of them wait in the feeder thread
    p = ctx.Process(target=consume, args=(q, 200, out))
    p.start()
    print(out.get(timeout=60), flush=True)
    p.join(30)
    q.put(b"late")                 # nobody takes it: exit flushes, and must not hang
    # no close(): the exit hook ends the feeder once it has sent everything
"""


@pytest.mark.timeout(120)
def test_exit_flushes_the_feeder_of_an_unclosed_queue_and_does_not_hang(tmp_path):
    script = tmp_path / "exit_flush.py"
    script.write_text(_EXIT_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200000"]


def test_objects_only_multiprocessing_can_pickle_go_through_its_reducers():
    # a socket pickles only with multiprocessing's reducers (ForkingPickler):
    # the queue falls back to them when the plain pickler refuses
    def child() -> bytes:
        import socket
        from multiprocessing import resource_sharer
        # a plain fork child: what multiprocessing's own fork children do
        # first, or a descriptor server an earlier test started in the
        # parent would answer for this child (EOFError)
        resource_sharer._resource_sharer._afterfork()
        a, b = socket.socketpair()
        q = Queue()
        q.put(a)
        a2 = q.get(timeout=10)
        a2.sendall(b"through the copy")
        got = b.recv(100)
        for s in (a, a2, b):
            s.close()
        q.close()
        return got

    assert Child(child).result(timeout=30) == b"through the copy"


def test_put_waits_briefly_for_room_then_leaves_it_to_the_feeder():
    q = Queue(capacity=4096)
    start = time.monotonic()
    for _ in range(20):
        q.put(b"x" * 1000)  # the ring holds a few; nothing reads it
    elapsed = time.monotonic() - start
    assert q._thread is not None and len(q._buffer) > 0
    assert elapsed < 5  # bounded: about a millisecond for the first that had no room
    assert [q.get(timeout=5) for _ in range(20)] == [b"x" * 1000] * 20
    q.close()
    q.join_thread()


class _CountingQueue(Queue):
    """A Queue that records which of its Python parts put and get went
    through (the C part calls them by name)."""

    def __init__(self, *args, **kwargs):
        self.calls = []
        super().__init__(*args, **kwargs)


def _recorded(name):
    def method(self, *args, **kwargs):
        self.calls.append(name)
        return getattr(super(_CountingQueue, self), name)(*args, **kwargs)
    return method


for _name in ("_put", "_send", "_send_pickle", "_to_feeder", "_taken"):
    setattr(_CountingQueue, _name, _recorded(_name))


@pytest.mark.parametrize("obj", [{"a": "x" * 1000}, b"x" * 1000], ids=["pickle", "bytes"])
@pytest.mark.parametrize("maxsize", [0, 100])
def test_a_put_that_found_no_room_waits_for_it_once(maxsize, obj):
    """The put whose wait for room ran out hands its message to the feeder
    as it is: no second wait of the Python part (an unbounded queue's C
    put sent every earlier one itself, pickle or bytes; a bounded one's
    Python part sends a pickle through the same C call)."""
    q = _CountingQueue(maxsize, capacity=4096)
    q.cancel_join_thread()  # a failing assertion leaves no feeder for the exit to wait for
    puts = 0
    while "_to_feeder" not in q.calls:
        q.put(obj)
        puts += 1
        assert puts < 50, q.calls
    per_put = [] if maxsize == 0 else ["_put", "_send"] + ["_send_pickle"] * (type(obj) is dict)
    assert q.calls == per_put * puts + ["_to_feeder"]
    assert [q.get(timeout=10) for _ in range(puts)] == [obj] * puts
    q.close()
    q.join_thread()


def test_bytes_take_the_c_path_both_ways_and_meet_the_python_one():
    q = _CountingQueue(capacity=1 << 16)
    for data in (b"", b"b", b"x" * 4000, b"y" * 20000, b"\x80not a pickle", b"\x01\x02"):
        q.put(data)
        got = q.get()
        assert type(got) is bytes and got == data
    assert q.calls == []
    # what the C part put, the Python part takes, and the reverse
    q.put(b"from C")
    assert q.get(timeout=5) == b"from C"  # timeout=: the Python get
    q.put(b"from Python", timeout=5)
    assert q.get() == b"from Python"
    big = bytes(range(256)) * 400  # past the ring's max_message_size: a memory file
    q.put(big)
    assert q.get() == big
    assert q.calls == ["_put", "_send", "_put", "_send", "_taken"]
    q.close()


def test_a_fork_child_sees_the_queue_as_inherited_until_it_uses_it():
    q = Queue()
    assert not q._inherited

    def child():
        before = q._inherited
        q.put("from the child")
        return before, q._inherited

    assert Child(child).result(timeout=30) == (True, False)
    assert not q._inherited and q.get(timeout=10) == "from the child"
    q.close()


def test_an_unbounded_queue_counts_the_ring_and_the_backlog():
    """An unbounded queue has no semaphore: qsize() counts the messages in
    the ring, whoever put them, and this process's own backlog."""
    q = Queue(capacity=1 << 14)
    Child(lambda: [q.put(i) for i in range(5)]).result()
    assert q.qsize() == 5 and not q.empty() and not q.full()
    assert q.get(timeout=10) == 0 and q.qsize() == 4
    big = b"b" * 1000
    for _ in range(40):  # more than the ring holds: the rest waits in the feeder
        q.put(big)
    assert q.qsize() == 44 and not q.full()
    assert [q.get(timeout=10) for _ in range(4)] == [1, 2, 3, 4]
    for _ in range(40):
        assert q.get(timeout=10) == big
    wait_until(lambda: q.qsize() == 0, timeout=10)  # the feeder's last pop
    assert q.empty()
    q.close()
    q.join_thread()
