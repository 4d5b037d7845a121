"""ShmChannel between real processes: exactly once, in order, through kills
and garbage. Every wait is bounded; risky parts run in forked children."""

from __future__ import annotations

import hashlib
import mmap
import multiprocessing
import os
import random
import resource
import signal
import struct
import threading
import time
import tracemalloc

import pytest

from unixipc import ChannelClosedError, ShmChannel

from support import SANITIZED, Child

HEAD = struct.Struct("<IIQ8s")  # sender, sequence, nonce, digest


def _message(sender: int, seq: int, rng: random.Random) -> bytes:
    roll = rng.random()
    n = rng.randrange(0, 257) if roll < 0.7 else rng.randrange(0, 4097) if roll < 0.95 \
        else rng.randrange(0, 65537)
    body = rng.randbytes(n)
    return HEAD.pack(sender, seq, n, hashlib.blake2b(body, digest_size=8).digest()) + body


def _check(data: bytes) -> tuple[int, int]:
    sender, seq, n, digest = HEAD.unpack_from(data)
    body = data[HEAD.size:]
    assert len(body) == n and hashlib.blake2b(body, digest_size=8).digest() == digest
    return sender, seq


def _send_all(ch: ShmChannel, senders: range, count: int, threads: bool) -> None:
    if multiprocessing.parent_process() is not None:
        ch.close_receiving()
    def run(sender: int) -> None:
        rng = random.Random(sender)
        for seq in range(count):
            ch.send(_message(sender, seq, rng), timeout=20)

    if threads:
        ts = [threading.Thread(target=run, args=(s,)) for s in senders]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
    else:
        for s in senders:
            run(s)


def _receive_all(ch: ShmChannel, out: "multiprocessing.Queue[object]",
                 only_receive: bool = True, many: bool = False) -> None:
    """Receives until end of stream, one at a time or (`many`) with
    receive_many of varying counts, some past its runs of 256."""
    if only_receive:
        ch.close_sending()  # as a pipe's reader closes its write end
    last: dict[int, int] = {}
    seen = 0
    counts = [1, 7, 300, 64]
    try:
        while True:
            if many:
                batch = ch.receive_many(counts[seen % len(counts)], timeout=20)
                assert 1 <= len(batch) <= counts[seen % len(counts)]
            else:
                batch = [ch.receive(timeout=20)]
            for data in batch:
                sender, seq = _check(data)
                assert seq > last.get(sender, -1), "out of order"
                last[sender] = seq
                seen += 1
                out.put((sender, seq))
    except ChannelClosedError:
        out.put(("done", seen))


# About 2 s. Before the fix of try_claim (a receiver that lost the race to
# move rd released the wrong position), a record stayed claimed forever and
# the ring wedged within a few thousand messages.
@pytest.mark.timeout(120)
def test_four_by_four_exactly_once_in_order():
    total_senders, per_sender = 4, 25_000  # 100,000 messages of 0..64 KiB
    ch = ShmChannel(capacity=1 << 20)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    # two sender processes (one with two threads), and a sender thread here
    procs = [ctx.Process(target=_send_all, args=(ch, range(0, 1), per_sender, False)),
             ctx.Process(target=_send_all, args=(ch, range(1, 3), per_sender, True))]
    # three receiver processes (two with receive_many) and one receiver thread here
    procs += [ctx.Process(target=_receive_all, args=(ch, results, True, many))
              for many in (False, True, True)]
    here = threading.Thread(target=_receive_all, args=(ch, results, False))
    try:
        for p in procs:
            p.start()
        here.start()
        _send_all(ch, range(3, 4), per_sender, False)
        ch.close_sending()
        got: set[tuple[int, int]] = set()
        done = 0
        deadline = time.monotonic() + 60
        while done < 4:
            assert time.monotonic() < deadline
            item = results.get(timeout=max(0.1, deadline - time.monotonic()))
            if item[0] == "done":
                done += 1
                continue
            assert item not in got, f"duplicate {item}"
            got.add(item)
        assert got == {(s, q) for s in range(total_senders) for q in range(per_sender)}
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(10)
        here.join(30)
        results.close()
        results.cancel_join_thread()
    ch.close()


def _killable_sender(ch: ShmChannel, sender: int, progress: mmap.mmap) -> None:
    ch.close_receiving()
    rng = random.Random(sender)
    seq = 0
    while True:
        if sender % 2:  # half of them send batches: one reservation for many
            batch = [_message(sender, seq + i, rng) for i in range(rng.randrange(1, 20))]
            seq += ch.send_many(batch, timeout=30)
        else:
            ch.send(_message(sender, seq, rng), timeout=30)
            seq += 1
        struct.pack_into("<I", progress, 4 * sender, seq)  # after send returned


def _send_making_room(ch: ShmChannel, data: bytes, received: dict[int, list[int]],
                      timeout: float = 10.0) -> None:
    """Send `data`, receiving (into `received`) while the ring has no room:
    a killed sender may have filled it, and this process is its only
    receiver (a plain send waited for nobody and timed out, now and then)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ch.send(data, block=False)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError("no room in the ring after receiving for 10 s") from None
        try:
            s, q = _check(ch.receive(timeout=0.2))
            received.setdefault(s, []).append(q)
        except TimeoutError:
            pass


# 200 forks and 50 more: a few seconds, slower under the sanitizers.
@pytest.mark.timeout(300)
def test_senders_and_receivers_killed_at_random_points():
    kills = 200
    ch = ShmChannel(capacity=1 << 16)
    progress = mmap.mmap(-1, 4 * (kills + 1))
    rng = random.Random(7)
    received: dict[int, list[int]] = {}
    for sender in range(kills):
        pid = os.fork()
        if pid == 0:
            try:
                _killable_sender(ch, sender, progress)
            finally:
                os._exit(1)
        # let it send a while, receiving meanwhile, then kill it anywhere
        stop = time.monotonic() + rng.uniform(0.0005, 0.01)
        while time.monotonic() < stop:
            try:
                s, q = _check(ch.receive(timeout=0.001))
                received.setdefault(s, []).append(q)
            except TimeoutError:
                pass
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        # every fourth round, a receiver process dies holding a view (of a
        # message from here, if nothing else is in the ring)
        if sender % 4 == 0:
            ours = struct.unpack_from("<I", progress, 4 * kills)[0]
            _send_making_room(ch, _message(kills, ours, rng), received)
            struct.pack_into("<I", progress, 4 * kills, ours + 1)
            victim = os.fork()
            if victim == 0:
                try:
                    ch.close_sending()
                    with ch.receive_view(timeout=1) as view:
                        _check(bytes(view))
                        os.kill(os.getpid(), signal.SIGKILL)
                finally:
                    os._exit(1)
            os.waitpid(victim, 0)
    # drain what is left: no sender is open here after close_sending
    ch.close_sending()
    deadline = time.monotonic() + 30
    with pytest.raises(ChannelClosedError):
        while True:
            assert time.monotonic() < deadline, "the ring is wedged"
            s, q = _check(ch.receive(timeout=10))
            received.setdefault(s, []).append(q)
    victims = sum(1 for s in range(kills) if s % 4 == 0)
    for sender in range(kills + 1):  # and the messages from here
        seqs = received.get(sender, [])
        assert seqs == sorted(set(seqs)), "duplicate or out of order"
        returned = struct.unpack_from("<I", progress, 4 * sender)[0]
        # each message whose send returned arrived, except those a killed
        # receiver took with it (at most one per victim, overall)
        missing = set(range(returned)) - set(seqs)
        victims -= len(missing)
    assert victims >= 0
    ch.close()


def test_garbage_over_the_mapping_never_crashes_a_reader():
    ch = ShmChannel(capacity=1 << 16)
    size = os.fstat(ch.fileno()).st_size

    def reader(c: ShmChannel) -> int:
        n = 0
        end = time.monotonic() + 2
        while time.monotonic() < end:
            for call in (lambda: c.receive(timeout=0.001), lambda: c.send(b"x" * 100, timeout=0.001),
                         lambda: c.receive_many(10, timeout=0.001)):
                try:
                    call()
                    n += 1
                except (OSError, ValueError, EOFError):
                    pass
        return n

    children = [Child(reader, ch) for _ in range(2)]
    m = mmap.mmap(ch.fileno(), size)
    rng = random.Random(3)
    end = time.monotonic() + 2
    while time.monotonic() < end:
        if rng.random() < 0.5:
            m[:4096] = rng.randbytes(4096)  # the header
        start = rng.randrange(0, size - 4096)
        m[start:start + 4096] = rng.randbytes(4096)  # slots and ring
    m.close()
    for child in children:
        child.result(timeout=30)  # a crash would be ChildError, not a value
    ch.close()


def test_no_descriptor_or_memory_growth_over_a_million_messages():
    ch = ShmChannel(capacity=1 << 20)
    fds_before = len(os.listdir("/proc/self/fd"))
    for _ in range(20_000):
        ch.send(b"warm-up")
        ch.receive()
    batch = [b"m" * 64] * 1000
    ch.send_many(batch)
    ch.receive_many(1000)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    for _ in range(1000):
        assert ch.send_many(batch) == 1000
        assert len(ch.receive_many(1000)) == 1000
    for _ in range(1000):
        ch.send(b"view")
        with ch.receive_view() as view:
            assert view.nbytes == 4
    traced_after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert len(os.listdir("/proc/self/fd")) == fds_before
    # Python objects still alive (a lost reference to one 64-byte message
    # per batch would be 1000 * 97 bytes)
    assert traced_after - traced_before < 16 * 1024
    if not SANITIZED:  # ASan's quarantine keeps freed memory resident
        assert rss_after - rss_before < 8 * 1024  # KiB: C-level allocations too
    ch.close()


def _pickled_child(ch: ShmChannel) -> None:
    ch.send(b"from " + multiprocessing.current_process().name.encode())
    ch.close()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_reaches_children_of_every_start_method(method):
    ch = ShmChannel(capacity=1 << 16)
    ctx = multiprocessing.get_context(method)
    p = ctx.Process(target=_pickled_child, args=(ch,), name=f"child-{method}")
    p.start()
    assert ch.receive(timeout=60) == f"from child-{method}".encode()
    p.join(60)
    assert p.exitcode == 0
    ch.close()
