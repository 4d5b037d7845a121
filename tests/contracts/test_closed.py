"""Closed means one thing, for every closable object: ``closed`` is False,
then True after ``close()``; every public I/O method (and ``fileno()``)
raises ValueError after close, naming the object ("I/O operation on closed
<its repr>"); closing again is fine; an object collected
unclosed emits ResourceWarning naming it (as files and sockets do) and a
closed one emits none. The queues follow multiprocessing's and do not warn
(docs/design.md says why). One row per closable object."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import sys
import warnings
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import pytest

import unixipc
from unixipc import fifo, posix, sockets
from unixipc.pipe import Pipe, popen
from unixipc.queue import JoinableQueue, Queue, SimpleQueue

from support import Child, frozen_heap, posix_name

Use = Callable[[Any], Any]

#: Their full collections scan only what each test made (support.frozen_heap).
_frozen_heap = pytest.fixture(autouse=True)(frozen_heap)


def _run(coro_fn: Callable[[Any], Any]) -> Use:
    return lambda obj: asyncio.run(coro_fn(obj))


@dataclass
class Row:
    make: Callable[[list[Callable[[], Any]], str], Any]  # (cleanups, tmp dir) -> object
    uses: dict[str, Use]
    warns: bool = True
    warns_itself: bool = True  # False: the objects it holds warn, naming themselves
    # False: its message names an object it holds (a pipe's end) or is the
    # standard library's ("I/O operation on closed file.")
    names_itself: bool = True


Cleanups = list[Callable[[], Any]]


def _reader(cleanups: Cleanups, tmp: str) -> Any:
    p = Pipe()
    cleanups.append(p.writer.close)
    return p.reader


def _writer(cleanups: Cleanups, tmp: str) -> Any:
    p = Pipe()
    cleanups.append(p.reader.close)
    return p.writer


def _fifo_reader(cleanups: Cleanups, tmp: str) -> Any:
    f = fifo.Fifo(os.path.join(tmp, "f"), create=True)
    cleanups.append(f.unlink)
    return f.open_reader(nonblock=True)


def _pair(kind: str) -> Callable[[Cleanups, str], Any]:
    def make(cleanups: Cleanups, tmp: str) -> Any:
        a, b = sockets.MessageChannel.pair(kind)
        cleanups.append(b.close)
        return a
    return make


def _posix_semaphore(cleanups: Cleanups, tmp: str) -> Any:
    sem = posix.Semaphore(posix_name("closed"), exclusive=True)
    sem.unlink()  # the handle keeps it; nothing is left in /dev/shm
    return sem


def _posix_semaphore_unnamed(cleanups: Cleanups, tmp: str) -> Any:
    import mmap
    return posix.Semaphore.in_buffer(mmap.mmap(-1, 4096))  # it holds the mapping


def _posix_shared_memory(cleanups: Cleanups, tmp: str) -> Any:
    shm = posix.SharedMemory(posix_name("closed"), 64, exclusive=True)
    shm.unlink()  # the descriptor keeps it; nothing is left in /dev/shm
    return shm


def _posix_shared_memory_anonymous(cleanups: Cleanups, tmp: str) -> Any:
    return posix.SharedMemory.anonymous(64)


_SHM_USES: dict[str, Use] = {
    "size": lambda s: s.size,
    "resize": lambda s: s.resize(128),
    "attach": lambda s: s.attach(),
    "detach": lambda s: s.detach(),
    "read": lambda s: s.read(),
    "write": lambda s: s.write(b"x"),
    "fileno": lambda s: s.fileno(),
    "pickle": lambda s: s.__reduce__(),
    "enter": lambda o: o.__enter__(),
}


def _posix_message_queue(cleanups: Cleanups, tmp: str) -> Any:
    mq = posix.MessageQueue(posix_name("closed"), exclusive=True)
    mq.unlink()  # the handle keeps it; no name is left
    return mq


def _listener(cleanups: Cleanups, tmp: str) -> Any:
    return sockets.listen("unix:" + os.path.join(tmp, "sock"))


END_USES: dict[str, Use] = {
    "fileno": lambda e: e.fileno(),
    "flush": lambda e: e.flush(),
    "isatty": lambda e: e.isatty(),
    "nonblocking": lambda e: e.nonblocking,
    "capacity": lambda e: e.capacity,
    "set_inheritable": lambda e: e.set_inheritable(True),
    "enter": lambda e: e.__enter__(),
}
READER_USES: dict[str, Use] = {
    **END_USES,
    "read": lambda r: r.read(1),
    "read_all": lambda r: r.read(),
    "readall": lambda r: r.readall(),
    "readinto": lambda r: r.readinto(bytearray(1)),
    "read_exactly": lambda r: r.read_exactly(1, timeout=0),
    "readline": lambda r: r.readline(),
    "readlines": lambda r: r.readlines(),
    "read_async": _run(lambda r: r.read_async(1, timeout=0)),
}
WRITER_USES: dict[str, Use] = {
    **END_USES,
    "write": lambda w: w.write(b"x"),
    "write_record": lambda w: w.write_record(b"x"),
    "writelines": lambda w: w.writelines([b"x"]),
    "write_async": _run(lambda w: w.write_async(b"x", timeout=0)),
}

CHANNEL_USES: dict[str, Use] = {
    "fileno": lambda c: c.fileno(),
    "send": lambda c: c.send(b"x"),
    "send_timed": lambda c: c.send(b"x", timeout=1),
    "send_nonblocking": lambda c: c.send(b"x", block=False),
    "send_fds": lambda c: c.send(b"x", [0]),
    "receive": lambda c: c.receive(),
    "receive_timed": lambda c: c.receive(timeout=0.1),
    "receive_nonblocking": lambda c: c.receive(block=False),
    "send_many": lambda c: c.send_many([b"x", b"y"]),
    "flush": lambda c: c.flush(),
    "shutdown": lambda c: c.shutdown(),
    "peer_credentials": lambda c: c.peer_credentials(),
    "send_async": _run(lambda c: c.send_async(b"x")),
    "receive_async": _run(lambda c: c.receive_async()),
    "enter": lambda o: o.__enter__(),
}

ROWS: dict[str, Row] = {
    "pipe_reader": Row(_reader, READER_USES),
    "pipe_writer": Row(_writer, WRITER_USES),
    "pipe": Row(lambda c, t: Pipe(), {"capacity": lambda p: p.capacity,
                                      "enter": lambda p: p.__enter__()},
                warns_itself=False,  # its ends may outlive it
                names_itself=False),
    "fifo_reader": Row(_fifo_reader, READER_USES),
    "popen_reader": Row(lambda c, t: popen("true", "rb"), {
        "read": lambda f: f.read(),
        "readline": lambda f: f.readline(),
        "fileno": lambda f: f.fileno(),
        "iter": lambda f: next(iter(f)),
        "enter": lambda o: o.__enter__(),
    }, names_itself=False),
    "popen_text_writer": Row(lambda c, t: popen("cat >/dev/null", "w", encoding="utf-8"), {
        "write": lambda f: f.write("x"),
        "fileno": lambda f: f.fileno(),
        "flush": lambda f: f.flush(),
        "enter": lambda o: o.__enter__(),
    }, names_itself=False),
    "coprocess": Row(lambda c, t: unixipc.Coprocess(["cat"]), {
        "send": lambda c: c.send(b"x"),
        "readline": lambda c: c.readline(timeout=0),
        "read": lambda c: c.read(timeout=0),
        "request": lambda c: c.request(b"x", timeout=0),
        "send_async": _run(lambda c: c.send_async(b"x")),
        "readline_async": _run(lambda c: c.readline_async(timeout=0)),
        "read_async": _run(lambda c: c.read_async(timeout=0)),
        "request_async": _run(lambda c: c.request_async(b"x", timeout=0)),
        "readline_blocking": lambda c: c.readline(),
        "enter": lambda o: o.__enter__(),
    }),
    "pty_coprocess": Row(lambda c, t: unixipc.Coprocess(["cat"], pty=True), {
        "send": lambda c: c.send(b"x"),
        "read": lambda c: c.read(timeout=0),
        "enter": lambda o: o.__enter__(),
    }),
    "message_channel": Row(_pair("stream"), CHANNEL_USES),
    "seqpacket_channel": Row(_pair("seqpacket"), CHANNEL_USES),
    "listener": Row(_listener, {
        "fileno": lambda s: s.fileno(),
        "accept": lambda s: s.accept(),
        "accept_timed": lambda s: s.accept(timeout=0.1),
        "accept_nonblocking": lambda s: s.accept(block=False),
        "enter": lambda o: o.__enter__(),
    }),
    "shm_channel": Row(lambda c, t: unixipc.ShmChannel(capacity=4096), {
        "fileno": lambda c: c.fileno(),
        "send": lambda c: c.send(b"x"),
        "send_many": lambda c: c.send_many([b"x"]),
        "receive": lambda c: c.receive(),
        "receive_timed": lambda c: c.receive(timeout=0),
        "receive_many": lambda c: c.receive_many(1, timeout=0),
        "receive_into": lambda c: c.receive_into(bytearray(8), timeout=0),
        "receive_view": lambda c: c.receive_view(timeout=0).__enter__(),
        "pickle": lambda c: c.__reduce__(),
        "send_async": _run(lambda c: c.send_async(b"x")),
        "receive_async": _run(lambda c: c.receive_async(timeout=0)),
        "enter": lambda o: o.__enter__(),
    }),
    "posix_semaphore": Row(_posix_semaphore, {
        "acquire": lambda s: s.acquire(timeout=0),
        "acquire_nonblocking": lambda s: s.acquire(block=False),
        "release": lambda s: s.release(),
        "value": lambda s: s.value,
        "held": lambda s: s.held(),
        "pickle": lambda s: s.__reduce__(),
        "acquire_async": _run(lambda s: s.acquire_async(timeout=0)),
        "enter": lambda o: o.__enter__(),
    }),
    "posix_semaphore_unnamed": Row(_posix_semaphore_unnamed, {
        "acquire": lambda s: s.acquire(timeout=0),
        "acquire_nonblocking": lambda s: s.acquire(block=False),
        "release": lambda s: s.release(),
        "value": lambda s: s.value,
        "held": lambda s: s.held(),
        "pickle": lambda s: s.__reduce__(),
        "acquire_async": _run(lambda s: s.acquire_async(timeout=0)),
        "enter": lambda o: o.__enter__(),
    }),
    "posix_message_queue": Row(_posix_message_queue, {
        "send": lambda q: q.send(b"x", timeout=0),
        "send_nonblocking": lambda q: q.send(b"x", block=False),
        "receive": lambda q: q.receive(timeout=0),
        "receive_nonblocking": lambda q: q.receive(block=False),
        "attributes": lambda q: q.attributes(),
        "notify": lambda q: q.notify(None),
        "fileno": lambda q: q.fileno(),
        "pickle": lambda q: q.__reduce__(),
        "send_async": _run(lambda q: q.send_async(b"x", timeout=0)),
        "receive_async": _run(lambda q: q.receive_async(timeout=0)),
        "enter": lambda o: o.__enter__(),
    }),
    "posix_shared_memory": Row(_posix_shared_memory, _SHM_USES),
    "posix_shared_memory_anonymous": Row(_posix_shared_memory_anonymous, _SHM_USES),
    "queue": Row(lambda c, t: Queue(capacity=4096), {
        "put": lambda q: q.put(1),
        "put_nowait": lambda q: q.put_nowait(1),
        "get": lambda q: q.get(timeout=0),
        "get_nowait": lambda q: q.get_nowait(),
    }, warns=False),
    "joinable_queue": Row(lambda c, t: JoinableQueue(capacity=4096), {
        "put": lambda q: q.put(1),
        "get": lambda q: q.get(timeout=0),
    }, warns=False),
    "simple_queue": Row(lambda c, t: SimpleQueue(capacity=4096), {
        "put": lambda q: q.put(1),
        "get": lambda q: q.get(),
        "empty": lambda q: q.empty(),
    }, warns=False),
}


@pytest.fixture(params=sorted(ROWS))
def row(request, tmp_path):
    spec = ROWS[request.param]
    cleanups: Cleanups = []
    yield request.param, spec, lambda: spec.make(cleanups, str(tmp_path))
    for cleanup in cleanups:
        cleanup()


def _close(obj: Any) -> None:
    obj.close()
    if isinstance(obj, unixipc.Coprocess):
        assert obj.returncode is not None


def test_closed_then_every_use_raises_value_error(row):
    name, spec, make = row
    obj = make()
    assert obj.closed is False
    fd = obj.fileno() if hasattr(obj, "fileno") else None
    _close(obj)
    assert obj.closed is True
    if fd is not None:  # the descriptor went with it
        with pytest.raises(OSError):
            os.fstat(fd)
    failures = []
    text = repr(obj)
    for use_name, use in spec.uses.items():
        try:
            use(obj)
        except ValueError as exc:
            if spec.names_itself and text not in str(exc):
                failures.append(f"{use_name}: {exc} (does not name {text})")
            continue
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(f"{use_name}: {type(exc).__name__}: {exc}")
        else:
            failures.append(f"{use_name}: no error")
    assert not failures, failures
    obj.close()  # again: nothing happens
    assert obj.closed is True


def _collect() -> None:
    for _ in range(3):
        gc.collect()


def test_unclosed_object_warns_when_collected(row):
    name, spec, make = row
    obj = make()
    text = repr(obj)
    if not spec.warns:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            del obj
            _collect()
        return
    with pytest.warns(ResourceWarning) as record:
        del obj
        _collect()
    messages = [str(w.message) for w in record if issubclass(w.category, ResourceWarning)]
    if spec.warns_itself:
        assert f"unclosed {text}" in messages, messages
    else:
        assert messages


def test_closed_object_does_not_warn(row):
    name, spec, make = row
    obj = make()
    _close(obj)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del obj
        _collect()


def _drop_inherited(box: list[Any]) -> list[str]:
    try:
        ref: Any = weakref.ref(box[0])
    except TypeError:  # no weak references (Pipe has slots): trust the collection
        ref = lambda: None  # noqa: E731
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", ResourceWarning)
        box.clear()
        _collect()
    assert ref() is None, "the child's copy was not collected"
    return [str(w.message) for w in record if issubclass(w.category, ResourceWarning)]


def test_fork_childs_copy_does_not_warn(row):
    """A fork child that drops its copy of the parent's object has leaked
    nothing of its own: no warning there, and the parent's object is left
    as it was (a listener's socket file stays)."""
    name, spec, make = row
    box = [make()]
    try:
        assert Child(_drop_inherited, box).result(timeout=30) == []
        assert box[0].closed is False
        if name == "listener":
            assert os.path.exists(box[0].address[len("unix:"):])
            box[0].fileno()
    finally:
        _close(box[0])


def test_buffered_wrapper_collected_unclosed_warns_naming_itself():
    """io.Buffered* ask their raw file to warn (FileIO's _dealloc_warn);
    a pipe end answers the same way."""
    p = Pipe()
    try:
        buffered = io.BufferedReader(p.reader)  # type: ignore[arg-type]
        text = repr(buffered)
        with pytest.warns(ResourceWarning) as record:
            del buffered
            _collect()
        assert f"unclosed {text}" in [str(w.message) for w in record]
        assert p.reader.closed
    finally:
        p.close()


def test_failed_constructor_leaves_nothing_to_warn_about(tmp_path):
    taken = tmp_path / "taken"
    taken.write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with pytest.raises(FileNotFoundError):
            unixipc.Coprocess(["/nonexistent/program"])
        with pytest.raises(OSError):
            sockets.listen(f"unix:{taken}")
        _collect()


def test_unraisable_resource_warnings_fail_the_suite(pytestconfig):
    """The suite's own setting: a ResourceWarning is an error, also when it
    comes from ``__del__`` (pytest reports those as unraisable)."""
    filters = pytestconfig.getini("filterwarnings")
    assert "error::ResourceWarning" in filters
    assert "error::pytest.PytestUnraisableExceptionWarning" in filters
    assert sys.version_info >= (3, 10)
