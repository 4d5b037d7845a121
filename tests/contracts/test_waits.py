"""The waiting rules every blocking call follows, checked once per call.

One row per blocking call of every mechanism (and per async twin, run under
``asyncio.run``). The rules (docs: API.md "Rules every object follows"):

- ``timeout=`` with nothing to wait for raises the row's timeout error
  (TimeoutError with errno ETIMEDOUT, unless the row's API says otherwise)
  after about the timeout, sleeping: the process burns almost no CPU and the
  waiting thread goes to sleep a few times, not once per poll interval;
- a signal whose Python handler returns is retried: the handler ran and the
  call still times out at about its timeout, neither early nor stretched;
- a signal handler that raises ends the wait with its exception;
- removal or close by another party wakes the waiter with the mechanism's
  documented error or end of file;
- ``block=False`` with nothing there fails at once.

A rule that does not hold for a row is left out of that rule's
parametrisation by the row's ``not_applicable``, with the reason written
there. A new mechanism adds rows here, not copies of these tests.

The bounds are loose on purpose: only a wait that spins (CPU) or polls
(a sleep and a wake every few milliseconds) breaks them; they say nothing
about speed.
"""

from __future__ import annotations

import asyncio
import errno
import os
import queue
import resource
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import unixipc
from unixipc import posix, sockets
from support import SANITIZED, posix_name

TIMEOUT = 0.3
# The signal rule's wait: a handler every 20 ms runs about ten times in it.
# The rule's failures do not depend on its length: a retry that restarts
# the whole timeout never ends (the next signal comes first), one that
# gives up returns early. The spinning and polling bounds do (they count
# against a 0.3 s wait), so those stay at TIMEOUT.
SHORT_TIMEOUT = 0.2
# CPU of the whole process over a TIMEOUT wait: spinning would use all of
# it; a loaded CI machine adds some (page faults, the event loop's set-up),
# and under the sanitizers that set-up costs twice as much (0.060 s seen
# once for ShmChannel.receive_async in the asan leg, against 0.06 allowed).
MAX_CPU = (0.4 if SANITIZED else 0.2) * TIMEOUT
# The waiting thread's voluntary switches over a TIMEOUT wait: a poll every
# 10 ms would make about 30; one sleep (plus a timer that re-fires, the
# event loop's own set-up, an executor's hand-offs on a loaded machine)
# makes a handful, 11 seen once on a busy CI leg.
MAX_SWITCHES = 20
LATE = 1.5  # seconds past a timeout that still count as "about the timeout"


def _switches() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class Case:
    """One blocking call, ready to be made.

    ``call(block=..., timeout=...)`` makes it (a coroutine function for an
    async row); ``wake()`` makes another party remove or close what it waits
    on; ``woken`` is the exception class the waiter then raises, or
    ``woken_result`` the value it returns instead (end of file).
    """

    call: Callable[..., Any]
    cleanup: Callable[[], None]
    wake: Callable[[], None] | None = None
    woken: type[BaseException] | None = None
    woken_result: Any = None


@dataclass
class Row:
    name: str
    make: Callable[[Path, Any], Case]
    is_async: bool = False
    timeout_error: type[BaseException] = TimeoutError
    nonblocking_error: type[BaseException] = BlockingIOError
    # rule name -> why it does not apply to this row
    not_applicable: dict[str, str] = field(default_factory=dict)


def _method(obj: Any, name: str, asynchronous: bool) -> Callable[..., Any]:
    """``obj.name`` or its async twin ``obj.name_async``."""
    return getattr(obj, f"{name}_async" if asynchronous else name)


def _run(row: Row, case: Case, **kwargs: Any) -> Any:
    if row.is_async:
        return asyncio.run(case.call(**kwargs))
    return case.call(**kwargs)


# ---- System V message queues -------------------------------------------

def _msg_queue(tracker: Any) -> unixipc.MessageQueue:
    mq = unixipc.MessageQueue(create=True)
    tracker.track("msg", mq.id)
    return mq


def _remove_quietly(obj: Any) -> Callable[[], None]:
    def cleanup() -> None:
        try:
            obj.remove()
        except unixipc.ObjectRemovedError:
            pass
        except FileNotFoundError:
            pass
    return cleanup


def _msg_receive(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        mq = _msg_queue(tracker)
        call = _method(mq, "receive", asynchronous)
        return Case(call, _remove_quietly(mq), mq.remove, unixipc.ObjectRemovedError)
    return make


def _msg_send(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        mq = _msg_queue(tracker)
        mq.set(max_bytes=4)
        mq.send(b"full")
        send = _method(mq, "send", asynchronous)
        return Case(lambda **kw: send(b"more", **kw), _remove_quietly(mq), mq.remove,
                    unixipc.ObjectRemovedError)
    return make


# ---- System V semaphore sets -------------------------------------------

def _sem_set(tracker: Any, value: int) -> unixipc.SemaphoreSet:
    sems = unixipc.SemaphoreSet(create=True, count=1, initial=value)
    tracker.track("sem", sems.id)
    return sems


def _sem_op(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        sems = _sem_set(tracker, 0)
        op = _method(sems, "op", asynchronous)
        return Case(lambda **kw: op((0, -1), **kw), _remove_quietly(sems), sems.remove,
                    unixipc.ObjectRemovedError)
    return make


def _sem_acquire(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        sems = _sem_set(tracker, 0)
        call = _method(sems[0], "acquire", asynchronous)
        return Case(call, _remove_quietly(sems), sems.remove, unixipc.ObjectRemovedError)
    return make


def _sem_wait_zero(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        sems = _sem_set(tracker, 1)
        call = _method(sems[0], "wait_zero", asynchronous)
        return Case(call, _remove_quietly(sems), sems.remove, unixipc.ObjectRemovedError)
    return make


# ---- named POSIX semaphores ---------------------------------------------

_PSEM_NO_WAKE = ("documented: sem_unlink removes only the name and sem_close waits for "
                 "the handle's waiters, so no other party can end a wait but by a post")


def _psem_acquire(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        sem = posix.Semaphore(posix_name("wait"), exclusive=True)
        sem.unlink()  # the handle keeps it: nothing is left in /dev/shm
        return Case(_method(sem, "acquire", asynchronous), sem.close)
    return make


def _psem_unnamed_acquire(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        import mmap
        sem = posix.Semaphore.in_buffer(mmap.mmap(-1, 4096))  # it holds the mapping
        return Case(_method(sem, "acquire", asynchronous), sem.close)
    return make


_PSEM_UNNAMED_NO_WAKE = ("documented: close() only lets go of the buffer (no sem_destroy) "
                         "and waits for the handle's waiters, so nothing ends a wait but "
                         "a post")

_PMQ_NO_WAKE = ("documented: mq_unlink removes only the name and mq_close waits for "
                "the handle's waiters, so no other party can end a wait but by a "
                "send or a receive")


def _pmq_receive(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        mq = posix.MessageQueue(posix_name("wait"), exclusive=True)
        mq.unlink()  # the handle keeps it: no name is left
        return Case(_method(mq, "receive", asynchronous), mq.close)
    return make


def _pmq_send(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        mq = posix.MessageQueue(posix_name("wait"), exclusive=True, max_messages=1,
                                max_message_size=8)
        mq.unlink()
        mq.send(b"full")
        send = _method(mq, "send", asynchronous)
        return Case(lambda **kw: send(b"x", **kw), mq.close)
    return make


# ---- pipes and FIFOs -----------------------------------------------------

def _close_pipe(p: unixipc.Pipe) -> Callable[[], None]:
    def cleanup() -> None:
        p.reader.close()
        p.writer.close()
    return cleanup


def _pipe_read(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        p = unixipc.Pipe()
        read = _method(p.reader, "read", asynchronous)
        # every writer closed: end of file, b""
        return Case(lambda **kw: read(100, **kw), _close_pipe(p), p.writer.close,
                    woken_result=b"")
    return make


def _fill(send: Callable[..., Any], data: bytes) -> None:
    """Send ``data`` without blocking until there is no room left."""
    while True:
        try:
            send(data, block=False)
        except BlockingIOError:
            return


def _pipe_write(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        p = unixipc.Pipe()
        _fill(p.writer.write, b"\0" * 65536)
        write = _method(p.writer, "write", asynchronous)
        # no reader left: BrokenPipeError (never SIGPIPE)
        return Case(lambda **kw: write(b"x", **kw), _close_pipe(p), p.reader.close,
                    BrokenPipeError)
    return make


def _fifo_open(end: str, asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        path = tmp_path / "fifo"
        unixipc.mkfifo(path)
        fifo = unixipc.Fifo(path)
        call = _method(fifo, f"open_{end}", asynchronous)

        async def opened_async(**kw: Any) -> None:
            (await call(**kw)).close()

        def opened(**kw: Any) -> None:
            call(**kw).close()

        return Case(opened_async if asynchronous else opened, lambda: path.unlink())
    return make


_FIFO_NO_WAKE = ("an open waits for the other end to come; unlinking the path "
                 "does not end it (nothing to remove or close)")


# ---- coprocesses -----------------------------------------------------------

def _coprocess_readline(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        co = unixipc.Coprocess(["cat"])
        call = _method(co, "readline", asynchronous)
        # the child exits: its stdout closes, EOFError with no line left
        return Case(call, lambda: co.close(timeout=10),
                    lambda: os.kill(co.pid, signal.SIGKILL), EOFError)
    return make


# ---- socket channels -------------------------------------------------------

def _close_channels(*channels: sockets.MessageChannel) -> Callable[[], None]:
    def cleanup() -> None:
        for ch in channels:
            ch.close()
    return cleanup


def _channel_receive(kind: str, asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        a, b = sockets.MessageChannel.pair(kind)
        call = _method(a, "receive", asynchronous)
        # the peer closed at a message boundary
        return Case(call, _close_channels(a, b), b.close, sockets.ChannelClosedError)
    return make


def _channel_send(kind: str, asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        a, b = sockets.MessageChannel.pair(kind)
        _fill(a.send, b"x" * 4096)
        send = _method(a, "send", asynchronous)
        # sends use MSG_NOSIGNAL: a closed peer is BrokenPipeError
        return Case(lambda **kw: send(b"y", **kw), _close_channels(a, b), b.close,
                    BrokenPipeError)
    return make


def _listener_accept(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        listener = sockets.listen(f"unix:{tmp_path / 'sock'}")
        call = _method(listener, "accept", asynchronous)
        return Case(call, listener.close)
    return make


_ACCEPT_NO_WAKE = ("accept waits for a client; nobody can remove the listener "
                   "from under it (closing it is the owner's ValueError rule, "
                   "tests/contracts/test_closed.py)")


# ---- shared-memory channel -------------------------------------------------

def _shmch_receive(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        ch = unixipc.ShmChannel(capacity=4096)
        call = _method(ch, "receive", asynchronous)
        # no sending side left and the ring empty
        return Case(call, ch.close, ch.close_sending, unixipc.ChannelClosedError)
    return make


def _shmch_send(asynchronous: bool) -> Callable[[Path, Any], Case]:
    def make(tmp_path: Path, tracker: Any) -> Case:
        ch = unixipc.ShmChannel(capacity=4096)
        _fill(ch.send, b"y" * 100)
        send = _method(ch, "send", asynchronous)
        # no receiving side left
        return Case(lambda **kw: send(b"z", **kw), ch.close, ch.close_receiving,
                    BrokenPipeError)
    return make


# ---- queues ------------------------------------------------------------------

def _close_queue(q: unixipc.Queue) -> Callable[[], None]:
    def cleanup() -> None:
        q.close()
        q.join_thread()
    return cleanup


def _queue_get(tmp_path: Path, tracker: Any) -> Case:
    q = unixipc.Queue()
    return Case(q.get, _close_queue(q))


def _queue_put(tmp_path: Path, tracker: Any) -> Case:
    q = unixipc.Queue(maxsize=1)
    q.put(1)
    return Case(lambda **kw: q.put(2, **kw), _close_queue(q))


_QUEUE_NO_WAKE = ("multiprocessing's Queue has no removal, and close() is only "
                  "the calling process's side (it does not wake other waiters)")
_QUEUE_ERRORS = "multiprocessing's API: queue.Empty / queue.Full, not OSError"


def _rows() -> list[Row]:
    rows = []
    for a in (False, True):
        s = "_async" if a else ""
        rows += [
            Row(f"MessageQueue.receive{s}", _msg_receive(a), a),
            Row(f"MessageQueue.send{s}", _msg_send(a), a),
            Row(f"SemaphoreSet.op{s}", _sem_op(a), a),
            Row(f"Semaphore.acquire{s}", _sem_acquire(a), a),
            Row(f"Semaphore.wait_zero{s}", _sem_wait_zero(a), a),
            Row(f"PipeReader.read{s}", _pipe_read(a), a),
            Row(f"PipeWriter.write{s}", _pipe_write(a), a),
            Row(f"Fifo.open_reader{s}", _fifo_open("reader", a), a, not_applicable={
                "wake": _FIFO_NO_WAKE,
                "nonblocking": "documented: one attempt for a reader always "
                               "succeeds (the kernel cannot tell without waiting)"}),
            Row(f"Fifo.open_writer{s}", _fifo_open("writer", a), a,
                not_applicable={"wake": _FIFO_NO_WAKE}),
            Row(f"Coprocess.readline{s}", _coprocess_readline(a), a),
            Row(f"MessageChannel.receive{s}[stream]", _channel_receive("stream", a), a),
            Row(f"MessageChannel.receive{s}[seqpacket]", _channel_receive("seqpacket", a), a),
            Row(f"MessageChannel.send{s}[stream]", _channel_send("stream", a), a),
            Row(f"MessageChannel.send{s}[seqpacket]", _channel_send("seqpacket", a), a),
            Row(f"Listener.accept{s}", _listener_accept(a), a,
                not_applicable={"wake": _ACCEPT_NO_WAKE}),
            Row(f"ShmChannel.receive{s}", _shmch_receive(a), a),
            Row(f"ShmChannel.send{s}", _shmch_send(a), a),
            Row(f"posix.Semaphore.acquire{s}", _psem_acquire(a), a,
                not_applicable={"wake": _PSEM_NO_WAKE}),
            Row(f"posix.Semaphore.in_buffer.acquire{s}", _psem_unnamed_acquire(a), a,
                not_applicable={"wake": _PSEM_UNNAMED_NO_WAKE}),
            Row(f"posix.MessageQueue.receive{s}", _pmq_receive(a), a,
                not_applicable={"wake": _PMQ_NO_WAKE}),
            Row(f"posix.MessageQueue.send{s}", _pmq_send(a), a,
                not_applicable={"wake": _PMQ_NO_WAKE}),
        ]
    # unixipc.Queue has no async twins (multiprocessing's API has none)
    rows += [
        Row("Queue.get", _queue_get, timeout_error=queue.Empty,
            nonblocking_error=queue.Empty, not_applicable={"wake": _QUEUE_NO_WAKE}),
        Row("Queue.put", _queue_put, timeout_error=queue.Full,
            nonblocking_error=queue.Full, not_applicable={"wake": _QUEUE_NO_WAKE}),
    ]
    return rows


ROWS = _rows()


def _params(rule: str) -> list[Any]:
    return [pytest.param(row, id=row.name) for row in ROWS if rule not in row.not_applicable]


@pytest.fixture
def make_case(tmp_path: Path, ipc_tracker: Any) -> Iterator[Callable[[Row], Case]]:
    made: list[Case] = []

    def make(row: Row) -> Case:
        case = row.make(tmp_path, ipc_tracker)
        made.append(case)
        return case

    yield make
    for case in made:
        case.cleanup()


@pytest.fixture
def sigalrm() -> Iterator[Callable[[Callable[..., Any], float, float], None]]:
    """Install a SIGALRM handler and start the real-time timer; both are
    undone at teardown."""
    old = signal.getsignal(signal.SIGALRM)

    def start(handler: Callable[..., Any], first: float, interval: float) -> None:
        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, first, interval)

    yield start
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("row", _params("timeout"))
def test_a_timeout_sleeps_without_spinning_or_polling(row: Row, make_case: Any) -> None:
    case = make_case(row)
    cpu0, sw0, t0 = _cpu(), _switches(), time.monotonic()
    with pytest.raises(row.timeout_error) as info:
        _run(row, case, timeout=TIMEOUT)
    elapsed, cpu, switches = time.monotonic() - t0, _cpu() - cpu0, _switches() - sw0
    if row.timeout_error is TimeoutError:
        assert info.value.errno == errno.ETIMEDOUT
    assert TIMEOUT - 0.01 <= elapsed < TIMEOUT + LATE
    assert cpu < MAX_CPU, f"{cpu:.3f}s of CPU: the wait spins"
    assert switches <= MAX_SWITCHES, f"{switches} wake-ups: the wait polls"


@pytest.mark.parametrize("row", _params("signals"))
def test_signals_are_retried_without_stretching_the_timeout(row: Row, make_case: Any,
                                                            sigalrm: Any) -> None:
    case = make_case(row)
    hits: list[int] = []
    sigalrm(lambda *a: hits.append(1), 0.02, 0.02)
    t0 = time.monotonic()
    with pytest.raises(row.timeout_error):
        _run(row, case, timeout=SHORT_TIMEOUT)
    elapsed = time.monotonic() - t0
    signal.setitimer(signal.ITIMER_REAL, 0)
    assert len(hits) >= 3, "the handler did not run"
    assert SHORT_TIMEOUT - 0.01 <= elapsed < SHORT_TIMEOUT + LATE


class _FromHandler(Exception):
    pass


@pytest.mark.parametrize("row", _params("raising_handler"))
def test_a_raising_signal_handler_ends_the_wait(row: Row, make_case: Any,
                                                sigalrm: Any) -> None:
    case = make_case(row)

    def boom(*args: Any) -> None:
        raise _FromHandler

    sigalrm(boom, 0.05, 0)
    with pytest.raises(_FromHandler):
        # the timeout is only a bound for a broken call: the handler ends it
        _run(row, case, timeout=1.0)


@pytest.mark.parametrize("row", _params("wake"))
def test_removal_or_close_by_another_party_wakes_the_waiter(row: Row,
                                                            make_case: Any) -> None:
    case = make_case(row)
    assert case.wake is not None
    waker = threading.Timer(0.1, case.wake)
    waker.start()
    try:
        if case.woken is not None:
            with pytest.raises(case.woken):
                _run(row, case, timeout=10)
        else:
            assert _run(row, case, timeout=10) == case.woken_result
    finally:
        waker.join(10)


@pytest.mark.parametrize("row", _params("nonblocking"))
def test_block_false_with_nothing_there_fails_at_once(row: Row, make_case: Any) -> None:
    case = make_case(row)
    t0 = time.monotonic()
    with pytest.raises(row.nonblocking_error):
        # the timeout only bounds a call that wrongly waits: block=False wins
        _run(row, case, block=False, timeout=5)
    assert time.monotonic() - t0 < 2.5, "block=False waited for the timeout"
