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
import time

import pytest

from unixipc import ChannelClosedError, ShmChannel

from support import Child

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


def _killable_sender(ch: ShmChannel, sender: int, progress: mmap.mmap) -> None:
    ch.close_receiving()
    rng = random.Random(sender)
    seq = 0
    while True:
        ch.send(_message(sender, seq, rng), timeout=30)
        seq += 1
        struct.pack_into("<I", progress, 4 * sender, seq)  # after send returned


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
        # every fourth round, a receiver process dies holding a view
        if sender % 4 == 0:
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
    for sender in range(kills):
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
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    batch = [b"m" * 64] * 1000
    for _ in range(1000):
        assert ch.send_many(batch) == 1000
        assert len(ch.receive_many(1000)) == 1000
    for _ in range(1000):
        ch.send(b"view")
        with ch.receive_view() as view:
            assert view.nbytes == 4
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert rss_after - rss_before < 8 * 1024  # KiB
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
