"""Several threads on one MessageChannel (issue 10, defect 7).

Each direction of a channel (send, receive) is used by one thread at a time:
a thread that finds the direction taken waits for it (its own block= and
timeout= apply to that wait), so every message goes out or comes in whole,
exactly once. Closing the channel wakes the threads blocked in it.

The threaded scenarios run in a forked child (support.Child): if they hang
or break, the child is killed at its bound and the test process keeps no
stuck threads. The peer is another process. Every wait is bounded.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import struct
import threading
import time
import zlib

import pytest

from support import Child, process_state, wait_until
from unixipc.sockets import ChannelClosedError, MessageChannel

THREADS = 8
_HEAD = struct.Struct("<IQI")  # sender thread, sequence number, crc32 of the payload


def _message(thread: int, seq: int, size: int) -> bytes:
    payload = random.Random(thread * 1_000_003 + seq).randbytes(size)
    return _HEAD.pack(thread, seq, zlib.crc32(payload)) + payload


def _check(data: bytes) -> tuple[int, int] | None:
    """(thread, seq) of an intact message, None for a damaged one."""
    if len(data) < _HEAD.size:
        return None
    thread, seq, crc = _HEAD.unpack_from(data)
    return (thread, seq) if zlib.crc32(data[_HEAD.size:]) == crc else None


def _sizes(kind: str, count: int, seed: int) -> list[int]:
    """Mostly small messages; over a stream some larger than the socket
    buffer, so one frame takes several writes (or reads)."""
    rng = random.Random(seed)
    big = 300_000 if kind == "stream" else 40_000
    return [rng.randint(0, 200) if rng.random() < 0.95 else rng.randint(1000, big)
            for _ in range(count)]


def _tally(received: list[list[bytes]], expected: set[tuple[int, int]]) -> dict[str, object]:
    """Counts of what went wrong; per-thread order is checked on the
    sequences as each receiving (or sending) thread saw them."""
    seen: dict[tuple[int, int], int] = {}
    corrupt = 0
    out_of_order = 0
    for got in received:
        last: dict[int, int] = {}
        for data in got:
            key = _check(data)
            if key is None:
                corrupt += 1
                continue
            seen[key] = seen.get(key, 0) + 1
            thread, seq = key
            if seq <= last.get(thread, -1):
                out_of_order += 1
            last[thread] = seq
    return {
        "lost": len(expected - set(seen)),
        "duplicated": sum(n - 1 for n in seen.values() if n > 1),
        "corrupt": corrupt,
        "unexpected": len(set(seen) - expected),
        "out_of_order": out_of_order,
    }


CLEAN = {"lost": 0, "duplicated": 0, "corrupt": 0, "unexpected": 0, "out_of_order": 0}


def _run_threads(target, n: int, bound: float) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + bound
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        errors.append(TimeoutError(f"{stuck} of {n} threads still running after {bound}s"))
    return errors


# ---- several receiver threads ---------------------------------------------------

def _send_numbered(a: MessageChannel, b: MessageChannel, kind: str, count: int) -> None:
    b.close()
    for seq, size in enumerate(_sizes(kind, count, 1)):
        a.send(_message(0, seq, size))
    a.close()


def _receivers(kind: str, count: int) -> dict[str, object]:
    a, b = MessageChannel.pair(kind)
    sender = Child(_send_numbered, a, b, kind, count)
    a.close()
    received: list[list[bytes]] = [[] for _ in range(THREADS)]

    def receive(i: int) -> None:
        while True:
            try:
                received[i].append(b.receive(timeout=30).data)
            except ChannelClosedError:
                return

    errors = _run_threads(receive, THREADS, 60)
    try:
        sender.result(timeout=10)
    finally:
        sender.close()
    b.close()
    tally = _tally(received, {(0, seq) for seq in range(count)})
    tally["errors"] = [repr(e) for e in errors]
    return tally


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["seqpacket", "stream"])
def test_receiver_threads_get_every_message_once_and_intact(kind):
    child = Child(_receivers, kind, 8000)
    try:
        tally = child.result(timeout=100)
    finally:
        child.close()
    assert tally == {**CLEAN, "errors": []}


# ---- several sender threads -----------------------------------------------------

def _receive_all(a: MessageChannel, b: MessageChannel) -> list[bytes]:
    a.close()
    got = []
    while True:
        try:
            got.append(b.receive(timeout=30).data)
        except ChannelClosedError:
            return got


def _senders(kind: str, per_thread: int) -> dict[str, object]:
    a, b = MessageChannel.pair(kind)
    receiver = Child(_receive_all, a, b)
    b.close()

    def send(i: int) -> None:
        for seq, size in enumerate(_sizes(kind, per_thread, 100 + i)):
            a.send(_message(i, seq, size))

    errors = _run_threads(send, THREADS, 60)
    a.close()
    try:
        got = receiver.result(timeout=40)
    finally:
        receiver.close()
    expected = {(i, seq) for i in range(THREADS) for seq in range(per_thread)}
    tally = _tally([got], expected)
    tally["errors"] = [repr(e) for e in errors]
    return tally


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_sender_threads_deliver_every_message_once_intact_in_order(kind):
    child = Child(_senders, kind, 400)
    try:
        tally = child.result(timeout=100)
    finally:
        child.close()
    assert tally == {**CLEAN, "errors": []}


def _mixed_senders(per_thread: int) -> dict[str, object]:
    """Threads using send, send_many, timed and non-blocking sends (the
    Python paths, with partial frames left pending) on one stream channel."""
    a, b = MessageChannel.pair("stream")
    receiver = Child(_receive_all, a, b)
    b.close()

    def send(i: int) -> None:
        msgs = [_message(i, seq, size)
                for seq, size in enumerate(_sizes("stream", per_thread, 200 + i))]
        style = i % 4
        if style == 0:
            for m in msgs:
                a.send(m)
        elif style == 1:
            for k in range(0, len(msgs), 7):
                a.send_many(msgs[k:k + 7])
        elif style == 2:
            for m in msgs:
                a.send(m, timeout=30)
        else:
            for m in msgs:
                while True:
                    try:
                        a.send(m, block=False)
                        break
                    except BlockingIOError as exc:
                        if getattr(exc, "characters_written", 0):  # committed: queued, not to repeat
                            break
                        time.sleep(0.0005)
            a.flush(timeout=30)

    errors = _run_threads(send, THREADS, 60)
    a.flush(timeout=10)
    a.close()
    try:
        got = receiver.result(timeout=40)
    finally:
        receiver.close()
    expected = {(i, seq) for i in range(THREADS) for seq in range(per_thread)}
    tally = _tally([got], expected)
    tally["errors"] = [repr(e) for e in errors]
    return tally


@pytest.mark.timeout(120)
def test_sender_threads_mixing_send_many_timeouts_and_block_false():
    child = Child(_mixed_senders, 200)
    try:
        tally = child.result(timeout=100)
    finally:
        child.close()
    assert tally == {**CLEAN, "errors": []}


# ---- a direction held by another thread -------------------------------------

def _while_main_is_receiving(probe, in_handler_itself: bool) -> tuple[object, object]:
    """The main thread blocks in b.receive() with part of a frame read (so
    it stays inside the call); a SIGUSR1 handler then runs inside that call,
    while the main thread holds the receive direction. probe(a, b) is called
    in the handler itself, or by another thread while the handler waits
    (then with the whole frame there). Returns (probe's outcome, what the
    main thread's receive returned)."""
    a, b = MessageChannel.pair("stream")
    main = threading.main_thread().ident
    in_handler = threading.Event()
    done = threading.Event()
    outcome: list[object] = []

    def record(fn) -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:  # noqa: BLE001 - that is the result
            outcome.append(exc)

    def handler(signo, frame):
        in_handler.set()
        if in_handler_itself:
            record(lambda: probe(a, b))
            done.set()
        else:
            done.wait(10)

    def other() -> None:
        a.socket.sendall(struct.pack("<Q", 5) + b"fi")
        wait_until(lambda: process_state(os.getpid()) == "S", 5)
        time.sleep(0.05)
        signal.pthread_kill(main, signal.SIGUSR1)
        in_handler.wait(10)
        if in_handler_itself:
            done.wait(10)
            a.socket.sendall(b"rst")
        else:
            a.socket.sendall(b"rst")
            time.sleep(0.05)
            record(lambda: probe(a, b))
            done.set()

    old = signal.signal(signal.SIGUSR1, handler)
    t = threading.Thread(target=other, daemon=True)
    try:
        t.start()
        try:
            main_got: object = b.receive(timeout=5).data
        except BaseException as exc:  # noqa: BLE001
            main_got = exc
        t.join(10)
        assert not t.is_alive()
    finally:
        signal.signal(signal.SIGUSR1, old)
        a.close()
        b.close()
    assert done.is_set()
    return outcome[0], main_got


@pytest.mark.timeout(30)
def test_block_false_on_a_direction_another_thread_holds_raises_blocking_io_error():
    outcome, main_got = _while_main_is_receiving(lambda a, b: b.receive(block=False),
                                                 in_handler_itself=False)
    # The whole frame is there, but the main thread is receiving it.
    assert isinstance(outcome, BlockingIOError), outcome
    assert "another thread" in str(outcome)
    assert main_got == b"first"


@pytest.mark.timeout(30)
def test_a_timeout_covers_the_wait_for_the_direction():
    # The main thread holds the direction until the probe is done, so the
    # probe's wait for it can only end by its own timeout.
    outcome, main_got = _while_main_is_receiving(lambda a, b: b.receive(timeout=0.3),
                                                 in_handler_itself=False)
    assert isinstance(outcome, TimeoutError), outcome
    assert main_got == b"first"


@pytest.mark.timeout(30)
def test_a_signal_handler_reentering_the_same_direction_gets_runtime_error():
    outcome, main_got = _while_main_is_receiving(lambda a, b: b.receive(block=False),
                                                 in_handler_itself=True)
    assert isinstance(outcome, RuntimeError), outcome
    assert main_got == b"first"


@pytest.mark.timeout(30)
def test_the_other_direction_is_free_while_one_is_held():
    # A handler inside a blocked receive may send on the same channel.
    outcome, main_got = _while_main_is_receiving(lambda a, b: b.send(b"reply"),
                                                 in_handler_itself=True)
    assert outcome is None
    assert main_got == b"first"


# ---- closing while other threads are in the channel ---------------------------

def _thread_state(native_id: int) -> str:
    with open(f"/proc/self/task/{native_id}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _close_while_blocked(kind: str, timed: bool) -> dict[str, object]:
    a, b = MessageChannel.pair(kind)
    timeout = 30 if timed else None
    results: dict[str, object] = {}
    ids: dict[str, int] = {}

    def call(name, fn) -> None:
        ids[name] = threading.get_native_id()
        try:
            results[name] = fn()
        except BaseException as exc:  # noqa: BLE001
            results[name] = type(exc).__name__

    big = b"x" * (8 << 20 if kind == "stream" else 100_000)

    def fill() -> None:  # blocks once the peer's buffer is full
        while True:
            b.send(big, timeout=timeout)

    threads = [threading.Thread(target=call, args=(f"receive{i}", lambda: b.receive(timeout=timeout)),
                                daemon=True) for i in range(3)]
    threads += [threading.Thread(target=call, args=(f"send{i}", fill), daemon=True)
                for i in range(2)]
    for t in threads:
        t.start()
    wait_until(lambda: len(ids) == len(threads), 5)
    wait_until(lambda: all(_thread_state(n) == "S" for n in ids.values()), 5)
    time.sleep(0.1)
    b.close()  # returns once every thread is out of the channel
    for t in threads:
        t.join(5)
    results["stuck"] = sum(t.is_alive() for t in threads)
    a.close()
    return results


@pytest.mark.timeout(60)
@pytest.mark.parametrize("timed", [False, True], ids=["forever", "timed"])
@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_close_wakes_every_thread_blocked_in_the_channel(kind, timed):
    child = Child(_close_while_blocked, kind, timed)
    try:
        results = child.result(timeout=40)
    finally:
        child.close()
    assert results.pop("stuck") == 0
    assert results == {name: "ValueError" for name in results}, results


def _close_then_reuse_the_number() -> dict[str, object]:
    a, b = MessageChannel.pair("stream")
    number = b.fileno()
    results: dict[str, object] = {}

    def receive() -> None:
        results["native"] = threading.get_native_id()
        try:
            results["got"] = b.receive(timeout=10).data
        except BaseException as exc:  # noqa: BLE001
            results["got"] = type(exc).__name__

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    wait_until(lambda: "native" in results, 5)
    wait_until(lambda: _thread_state(results["native"]) == "S", 5)  # type: ignore[arg-type]
    time.sleep(0.05)
    b.close()
    # Another file takes the number; a message waits in it.
    x, y = socket.socketpair()
    if x.fileno() != number:
        x, y = y, x
    results["reused"] = x.fileno() == number
    frame = struct.pack("<Q", 5) + b"wrong"
    y.sendall(frame)
    try:
        a.send(b"to the old socket")  # would wake a poll still on the old one
    except OSError:
        pass
    t.join(12)
    results["stuck"] = t.is_alive()
    x.setblocking(False)
    try:
        results["left_in_new_file"] = x.recv(100) == frame
    except BlockingIOError:
        results["left_in_new_file"] = False
    x.close()
    y.close()
    a.close()
    return results


@pytest.mark.timeout(60)
def test_a_blocked_call_never_uses_the_descriptor_number_after_close():
    child = Child(_close_then_reuse_the_number)
    try:
        results = child.result(timeout=40)
    finally:
        child.close()
    assert results["reused"] is True  # the scenario happened
    assert results["stuck"] is False
    assert results["got"] == "ValueError"
    assert results["left_in_new_file"] is True
