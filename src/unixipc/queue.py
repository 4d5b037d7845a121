"""Queues with multiprocessing's API on a shared-memory channel.

:class:`Queue`, :class:`JoinableQueue` and :class:`SimpleQueue` behave as
``multiprocessing``'s do (the same methods, exceptions, pickling rules and
exit-time flushing), with a :class:`~unixipc.ShmChannel` in place of the
pipe and its locks:

- ``put`` pickles in the calling thread with protocol 5, so an object that
  cannot be pickled raises at ``put`` (multiprocessing reports it later, in
  its feeder thread, and drops the object). Out-of-band buffers (numpy
  arrays, bytearray, PickleBuffer) and a bytes object put as a whole are
  copied straight into the ring, never through a joined pickle first.
- ``put`` does not wait for the ring (beyond about a millisecond): if it
  stays full, the message is kept in a background thread of the process
  that sends it when there is room (as multiprocessing's feeder thread
  does), and that process waits for it to leave at exit unless
  :meth:`Queue.cancel_join_thread` was called.
- An object larger than the ring's largest message goes in a memory file
  of its own (a memfd): the ring carries a reference, the receiver maps the
  file and rebuilds the object from it without copying its buffers again
  (a numpy array received this way lives in that file). The sending
  process keeps the file until a receiver has opened it, and waits for that
  at exit like it waits for the ring.

There is no lock on the path: a process killed while it puts or gets never
blocks the others (multiprocessing's reader and writer locks stay held
forever when their owner is killed). What a killed process had not yet put
into the ring, or an object in a memory file that no receiver opened before
its sender died, is lost: a later ``get`` skips it with a RuntimeWarning.
"""

from __future__ import annotations

import collections
import copyreg
import io
import mmap
import multiprocessing
import multiprocessing.synchronize
import os
import pickle
import queue
import secrets
import struct
import threading
import time
import types
import warnings
import weakref
from multiprocessing import context as _mpcontext
from multiprocessing import reduction as _reduction
from multiprocessing import util as _mputil
from typing import Any

from . import _core
from ._timeouts import Deadline
from ._closable import Closable
from .shmch import ShmChannel

__all__ = ["Queue", "SimpleQueue", "JoinableQueue"]

DEFAULT_CAPACITY = 1 << 22
"""The ring's size for a queue made without ``capacity=``: 4 MiB."""

# A message is one of:
# - a plain pickle (protocol 5, so its first byte is PROTO, 0x80): an object
#   without out-of-band buffers;
# - _BYTES, then the bytes of a bytes object put as a whole;
# - _HEAD (_BUFFERS, n), then n _ENTRY rows (offset from the message's
#   start, length, and the _COPIED flag when unpickling copies the buffer
#   anyway), the pickle, and the n buffers at their offsets (aligned);
# - _HEAD (_FILE, 0) and a _REF to a memory file whose content from
#   _FILE_DATA on is one of the above.
_PROTO = 0x80
_BYTES, _BUFFERS, _FILE = _core.QUEUE_BYTES, 2, 3  # _BYTES: the C put's and get's too
_BYTES_TAG = bytes([_BYTES])
_PROTO_TAG = bytes([_PROTO])
_dumps, _loads = pickle.dumps, pickle.loads  # the hot paths' own names
_HEAD = struct.Struct("<BxxxI")
_ENTRY = struct.Struct("<QQ")
_COPIED = 1 << 63
_REF = struct.Struct("<iiQ16s")  # sender's pid, its descriptor, size, token
_FILE_MAGIC = b"unixipcQ"
_FILE_STATE = 24                 # offset of the file's state word
_FILE_DATA = 64
_ALIGN = 16  # numpy's largest alignment; records and _FILE_DATA are multiples of it
# The state word: 0 written (no receiver yet), then _TAKEN (a receiver mapped
# it: the object there is the receiver's), then _RELEASED (the receiver's
# object, and so its mapping, is gone: the sender may write the file again).
_WRITTEN = b"\x00\x00\x00\x00"
_TAKEN = b"\x01\x00\x00\x00"
_RELEASED = b"\x02\x00\x00\x00"
_REUSE_FILES = 2          # files a process keeps for reuse, at most...
_REUSE_LARGEST = 1 << 27  # ...each of at most 128 MiB (a fresh page costs more than a copy)
_WRITE_CHUNK = 1 << 30
_LOST = object()

# -- pickling -------------------------------------------------------------------

_table: dict[Any, Any] = {}
_table_key: tuple[int, int] = (-1, -1)


def _dispatch_table() -> dict[Any, Any]:
    """copyreg's reducers and multiprocessing's own (ForkingPickler's: for
    connections, sockets...), rebuilt when either registry grows."""
    global _table, _table_key
    extra: dict[Any, Any] = getattr(_reduction.ForkingPickler, "_extra_reducers")
    key = (len(copyreg.dispatch_table), len(extra))
    if key != _table_key:
        _table = dict(copyreg.dispatch_table)
        _table.update(extra)
        _table_key = key
    return _table


def _pad(n: int, align: int) -> int:
    return -n % align


def _forking_pickle(obj: Any, buffers: list[pickle.PickleBuffer]) -> Any:
    """Protocol 5 pickle of `obj` with multiprocessing's reducers too
    (connections, sockets...): the second try for an object the plain
    pickler refused; its error is the one that counts."""
    buffers.clear()
    f = io.BytesIO()
    p = pickle.Pickler(f, 5, buffer_callback=buffers.append)
    p.dispatch_table = _dispatch_table()
    p.dump(obj)
    return f.getbuffer()


def _encode(obj: Any) -> tuple[list[Any], int]:
    """The message for `obj`: (parts, total length); its buffers start at
    multiples of _ALIGN from the message's start. Pickling errors raise
    here, in the caller's thread."""
    if type(obj) is bytes:
        return [_BYTES_TAG, obj], 1 + len(obj)
    buffers: list[pickle.PickleBuffer] = []
    try:
        data = pickle.dumps(obj, 5, buffer_callback=buffers.append)
    except Exception:
        data = _forking_pickle(obj, buffers)
    return _layout(data, buffers)


def _layout(data: Any, buffers: list[pickle.PickleBuffer]) -> tuple[list[Any], int]:
    """The message of a pickle and its out-of-band buffers: (parts, total)."""
    if not buffers:
        return [data], len(data)
    raws: list[Any] = []
    flags: list[int] = []
    for pb in buffers:
        raw: Any
        try:
            raw = pb.raw()
        except BufferError:  # not contiguous: one copy of it
            raw = memoryview(pb).tobytes()
        raws.append(raw)
        # bytearray(buffer) copies while unpickling: no copy of ours needed
        flags.append(_COPIED if type(memoryview(pb).obj) is bytearray else 0)
    table = _HEAD.size + _ENTRY.size * len(raws)
    pos = table + len(data)
    rows, body = [], []
    for raw, flag in zip(raws, flags):
        gap = _pad(pos, _ALIGN)
        if gap:
            body.append(bytes(gap))
        pos += gap
        rows.append(_ENTRY.pack(pos, raw.nbytes | flag))
        body.append(raw)
        pos += raw.nbytes
    return [_HEAD.pack(_BUFFERS, len(raws)), *rows, data, *body], pos


def _decode(view: Any, zero_copy: bool) -> Any:
    """The object of one message (`view`: the whole message, bytes or a
    memoryview). With `zero_copy` the buffers are handed over as they are
    (the memory is the object's from now on); else each is copied out,
    unless unpickling copies it anyway."""
    kind = view[0] if len(view) else -1
    if kind == _PROTO:
        return pickle.loads(view)
    if kind == _BYTES:
        return bytes(view[1:])
    if kind == _FILE:
        return _take_file(*_REF.unpack_from(view, _HEAD.size))
    if kind != _BUFFERS:
        raise pickle.UnpicklingError(f"not a queue message (kind {kind})")
    n = _HEAD.unpack_from(view)[1]
    buffers = []
    start = _HEAD.size + _ENTRY.size * n
    for i in range(n):
        off, length = _ENTRY.unpack_from(view, _HEAD.size + _ENTRY.size * i)
        flag, length = length & _COPIED, length & ~_COPIED
        piece = view[off:off + length]
        if len(piece) != length:
            raise pickle.UnpicklingError("a buffer runs past the end of the message")
        buffers.append(piece if zero_copy or flag else bytearray(piece))
    return pickle.loads(view[start:], buffers=buffers)


_ROOM_WAIT = _core.QUEUE_ROOM_WAIT
"""How long put waits for room in the ring before it hands over to the feeder."""

_SMALL = _core.QUEUE_SMALL
"""Messages up to this size are received as bytes (one copy, no record)."""


def _take(message: Any) -> Any:
    """The object of a message from ShmChannel._receive_auto: bytes, or a
    record whose space is given back here."""
    if type(message) is bytes:
        if message and message[0] == _PROTO:
            return pickle.loads(message)
        return _decode(message, zero_copy=False)
    try:
        with memoryview(message) as view:
            return _decode(view, zero_copy=False)
    finally:
        message.end()


# -- objects larger than the ring: memory files -----------------------------------

def _write_all(fd: int, parts: list[Any], offset: int) -> None:
    for part in parts:
        view = memoryview(part).cast("B")
        done = 0
        while done < len(view):  # pwrite releases the GIL
            done += os.pwrite(fd, view[done:done + _WRITE_CHUNK], offset + done)
        offset += len(view)


def _make_file(parts: list[Any], total: int, q: Any) -> tuple[int, bytes]:
    """A memory file holding the message `parts` (`total` bytes): (its
    descriptor, the reference message for the ring). A file that the
    queue putting it (`q`) kept, and that its receiver has released, is
    written again when it is large enough (its pages are there already:
    writing into them is several times faster than into new ones); else a
    new one. Called under _files_lock."""
    token = secrets.token_bytes(16)
    fd = _files.reusable(_FILE_DATA + total, q)  # large enough when found
    new = fd < 0
    if new:
        fd = os.memfd_create("unixipc-queue-object", os.MFD_CLOEXEC)
    try:
        if new:
            os.ftruncate(fd, _FILE_DATA + total)
        # the token after the data: a receiver of the file's last object
        # that looked again would find it changed
        _write_all(fd, [_FILE_MAGIC, bytes(16), _WRITTEN], 0)
        _write_all(fd, parts, _FILE_DATA)
        _write_all(fd, [token], 8)
    except BaseException:
        os.close(fd)
        raise
    ref = _HEAD.pack(_FILE, 0) + _REF.pack(os.getpid(), fd, total, token)
    return fd, ref


def _mark_released(fd: int, pid: int, forks: int) -> None:
    """A received object's mapping is gone: its file may be written again
    by its sender (which finds _RELEASED there); only if this process
    (`pid`) has not forked since it took the file (`forks`): a child may
    still map the same pages, and a fork child's copy of the object is not
    the one that was taken."""
    try:
        if os.getpid() == pid and _forks_made == forks:
            os.pwrite(fd, _RELEASED, _FILE_STATE)
    except OSError:
        pass
    finally:
        os.close(fd)


def _take_file(pid: int, fd: int, size: int, token: bytes) -> Any:
    """Opens the sender's memory file through /proc, marks it taken and
    rebuilds the object from the mapping. _LOST if the sender is gone."""
    try:
        mine = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        mine = -1
    mapping = None
    if mine >= 0:
        try:
            if os.fstat(mine).st_size >= _FILE_DATA + size:  # a reused file may be larger
                mapping = mmap.mmap(mine, _FILE_DATA + size)
        except BaseException:
            os.close(mine)
            raise
    if mapping is None or mapping[:8] != _FILE_MAGIC or mapping[8:24] != token:
        if mine >= 0:
            os.close(mine)
        warnings.warn(f"an object put by process {pid} was lost: the process exited "
                      "before any process took it", RuntimeWarning, stacklevel=4)
        return _LOST
    mapping[_FILE_STATE:_FILE_STATE + 4] = _TAKEN
    # once the object (every view of the mapping) is gone, the sender may
    # write the file again: told through a descriptor of this file (the
    # mapping is unmapped by then)
    weakref.finalize(mapping, _mark_released, mine, os.getpid(), _forks_made).atexit = False
    with memoryview(mapping) as whole:
        return _decode(whole[_FILE_DATA:], zero_copy=True)


class _Files:
    """The memory files this process has put and no receiver has taken
    yet, per queue; their descriptors stay open until then. Of those taken,
    the last few (_REUSE_FILES, each of at most _REUSE_LARGEST bytes) stay
    open too, to be written again by the same queue once their receiver has
    released them, until that queue is closed or collected. Used under
    _files_lock."""

    def __init__(self) -> None:
        self.waiting: dict[int, tuple[int, Any]] = {}  # fd -> (queue id, queue weakref)
        self.taken: collections.deque[tuple[int, int, Any]] = collections.deque()  # oldest first

    def add(self, fd: int, q: Any) -> None:
        self.waiting[fd] = (id(q), weakref.ref(q))

    def reap(self) -> None:
        for fd, (qid, ref) in list(self.waiting.items()):
            if os.pread(fd, 4, _FILE_STATE) != _WRITTEN:
                del self.waiting[fd]
                self.keep(fd, qid, ref)
        for entry in [e for e in self.taken if e[2]() is None]:  # their queue is gone
            self.taken.remove(entry)
            os.close(entry[0])

    def keep(self, fd: int, qid: int, ref: Any) -> None:
        """A file a receiver has taken: kept for its queue's reuse, or closed."""
        if os.fstat(fd).st_size > _REUSE_LARGEST or ref() is None:
            os.close(fd)
            return
        self.taken.append((fd, qid, ref))
        while len(self.taken) > _REUSE_FILES:
            os.close(self.taken.popleft()[0])

    def reusable(self, size: int, q: Any) -> int:
        """A file kept for `q` of at least `size` bytes (and not over twice
        as large) whose receiver has released it, taken out; -1 if none."""
        self.reap()
        for entry in self.taken:
            fd, qid, ref = entry
            if (qid == id(q) and ref() is q and
                    os.pread(fd, 4, _FILE_STATE) == _RELEASED and
                    size <= os.fstat(fd).st_size <= 2 * size):
                self.taken.remove(entry)
                return fd
        return -1

    def drop(self, q: Any) -> None:
        """`q` is closed: the files kept for it are closed."""
        for entry in [e for e in self.taken if e[1] == id(q)]:
            self.taken.remove(entry)
            os.close(entry[0])

    def pending(self, q: Any) -> bool:
        self.reap()
        return any(qid == id(q) for qid, _ in self.waiting.values())

    def forget_inherited(self) -> None:
        for fd in [*self.waiting, *(entry[0] for entry in self.taken)]:
            try:
                os.close(fd)
            except OSError:
                pass
        self.waiting.clear()
        self.taken.clear()


_files = _Files()
_files_lock = threading.Lock()
_forks_made = 0  # by this process: see _mark_released


def _after_fork_in_parent() -> None:
    global _forks_made
    _forks_made += 1


def _after_fork_in_child() -> None:
    global _files_lock
    _files_lock = threading.Lock()
    _files.forget_inherited()


os.register_at_fork(after_in_child=_after_fork_in_child, after_in_parent=_after_fork_in_parent)


# -- exit: wait for what this process still has to deliver -------------------------

_exit_queues: "weakref.WeakSet[Queue]" = weakref.WeakSet()
_exit_hook_pid = 0


def _watch_at_exit(q: "Queue") -> None:
    """At this process's exit, wait for `q`'s feeder and memory files (unless
    its join was cancelled): registered once per process, with
    multiprocessing's own exit machinery (run by multiprocessing's children
    and at the main process's exit)."""
    global _exit_hook_pid
    _exit_queues.add(q)
    if _exit_hook_pid != os.getpid():
        _exit_hook_pid = os.getpid()
        _exit_queues.clear()
        _exit_queues.add(q)
        _mputil.Finalize(None, _join_at_exit, exitpriority=-5)


def _join_at_exit() -> None:
    for q in list(_exit_queues):
        if q._opid == os.getpid() and not q._joincancelled:
            q._join()


# -- the queues -----------------------------------------------------------------

class Queue(_core.QueueBase, Closable):
    """A process-shared FIFO queue with ``multiprocessing.Queue``'s API.

    Args:
        maxsize: at most this many objects are in the queue at once (``put``
            waits, or raises ``queue.Full``); 0 or less: no bound (the
            largest count a semaphore can hold, as multiprocessing's).
        ctx: the multiprocessing context whose semaphore counts the objects
            of a bounded queue (``multiprocessing.get_context()`` when None).
            An unbounded queue needs none: ``qsize()`` counts the messages in
            the ring (and this process's backlog), so ``put`` and ``get``
            touch no shared counter besides the ring's own.
        capacity: the ring's size in bytes (see :class:`~unixipc.ShmChannel`).
            Objects whose pickle is larger than its ``max_message_size`` go
            through a memory file of their own.

    A queue passes to processes of ``multiprocessing`` as an inherited
    argument (``Process(args=...)``, ``Pool(initargs=...)``,
    ``ProcessPoolExecutor(initargs=...)``) under every start method;
    pickling it anywhere else raises RuntimeError, as multiprocessing's does.

    After :meth:`close` (:attr:`closed`), ``put`` and ``get`` raise
    ValueError. A queue collected unclosed does not warn, as
    multiprocessing's does not: leaving it to the collection is its normal
    use (docs/design.md).
    """

    _opid: int
    _joincancelled: bool

    def __init__(self, maxsize: int = 0, *, ctx: Any = None,
                 capacity: int = DEFAULT_CAPACITY) -> None:
        if ctx is None:
            ctx = multiprocessing.get_context()
        self._sem: Any = None
        if maxsize <= 0:
            maxsize = getattr(multiprocessing.synchronize, "SEM_VALUE_MAX")
        else:
            self._sem = ctx.BoundedSemaphore(maxsize)
        self._maxsize = maxsize
        self._channel = ShmChannel(capacity=capacity)
        self._reset()

    def __getstate__(self) -> tuple[Any, ...]:
        _mpcontext.assert_spawning(self)
        return (self._channel, self._sem, self._maxsize, self._used)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self._channel, self._sem, self._maxsize, self._used = state
        self._reset(self._used)

    def _reset(self, used: bool = False) -> None:
        """This process's own state (a fork child starts afresh)."""
        self._opid = os.getpid()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._buffer: collections.deque[bytes] = collections.deque()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._used = used
        self._joincancelled = False
        self._stopping = False  # exiting: the feeder ends once it has flushed
        self._max_message = self._channel.max_message_size
        self._core_reset()  # the C put and get may take their common path here
        weakref.finalize(self, ShmChannel.close, self._channel).atexit = False

    def _check_fork(self) -> None:
        if self._inherited:  # a fork child's copy: its state starts afresh
            self._reset(self._used)

    # -- putting -----------------------------------------------------------------

    # put() and get() are QueueBase's: the common case in C, the rest here.

    def _put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        """put() when its C part cannot take the common path."""
        self._check_fork()
        if self._closed:
            raise self._closed_error()
        if self._sem is None:
            self._used = True
            self._send(obj)
            return
        if not self._sem.acquire(block, timeout):
            raise queue.Full
        try:
            self._used = True
            self._send(obj)
        except BaseException:
            self._sem.release()
            raise

    def put_nowait(self, obj: Any) -> None:
        """``put(obj, False)``."""
        return self.put(obj, False)

    def _send(self, obj: Any, data: Any = None,
              buffers: list[pickle.PickleBuffer] | None = None) -> None:
        """Sends `obj`; with `buffers`, `data` is its pickle already made
        (None: the plain pickler refused it)."""
        if buffers is None and type(obj) is not bytes:
            buffers = []
            try:
                data = _dumps(obj, 5, buffer_callback=buffers.append)
            except Exception:
                pass  # _encode tries multiprocessing's reducers
        if data is None:
            parts, total = _encode(obj)
        elif buffers:
            parts, total = _layout(data, buffers)
        else:
            if len(data) <= self._max_message and not self._buffer:
                # a plain pickle, sent as put's common path sends it
                if not self._send_pickle(data):
                    self._to_feeder(data)
                return
            parts, total = [data], len(data)
        if total > self._max_message:
            with _files_lock:
                fd, ref = _make_file(parts, total, self)
                _files.add(fd, self)
            _watch_at_exit(self)
            parts = [ref]
        # No lock on the common path: a thread that finds no backlog sends
        # itself (waiting up to _ROOM_WAIT for room: a consumer that keeps up
        # frees it sooner than a feeder thread would start); one that left
        # something to the feeder sees it there and queues behind it, so
        # each thread's objects stay in order.
        if not self._buffer:
            try:
                self._channel._send_parts(parts, timeout=_ROOM_WAIT)
                return
            except TimeoutError:
                pass
        # the ring is full: a copy now (the caller may change its buffers)
        self._to_feeder(b"".join(parts))

    def _to_feeder(self, message: bytes) -> None:
        """Leaves `message` to this process's feeder thread, which sends it
        after what it already has: put found no room within _ROOM_WAIT (or
        a backlog to queue behind)."""
        with self._lock:
            self._buffer.append(message)
            if self._thread is None:
                self._start_thread()
            self._wake.notify()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._feed, name="unixipc-queue-feeder",
                                        daemon=True)
        self._thread.start()
        _watch_at_exit(self)

    def _feed(self) -> None:
        """The feeder thread: sends what the ring had no room for, in
        order; ends when everything has gone and the queue is closed (then
        it closes the channel here) or the process exits, or when no process
        receives any more."""
        buffer, wake = self._buffer, self._wake
        while True:
            with wake:
                while not buffer and not (self._closed or self._stopping):
                    wake.wait()
                if not buffer:
                    break
                item = buffer[0]
            try:
                self._channel.send(item)
            except (BrokenPipeError, ValueError):  # no receiver left; closed
                with wake:
                    buffer.clear()
                break
            with wake:
                buffer.popleft()
        with wake:
            self._thread = None
            if self._closed:
                self._channel.close()

    # -- getting -----------------------------------------------------------------

    def _taken(self, message: Any) -> Any:
        """get()'s object from a message that is not a plain pickle in bytes
        (its C part received it)."""
        obj = _take(message)
        if obj is not _LOST:
            return obj
        return self._get()

    def _get(self, block: bool = True, timeout: float | None = None) -> Any:
        """get() when its C part cannot take the common path."""
        self._check_fork()
        if self._closed:
            raise self._closed_error()
        self._used = True
        # a negative timeout means "do not wait", as in multiprocessing;
        # no deadline to keep for the common get() (it waits for as long
        # as it takes)
        deadline = None if timeout is None or not block else Deadline(max(timeout, 0.0))
        while True:
            try:
                message = self._channel._receive_auto(
                    _SMALL, block, None if deadline is None else deadline.remaining())
            except (BlockingIOError, TimeoutError):
                raise queue.Empty from None
            try:
                if type(message) is bytes and message[:1] == _PROTO_TAG:
                    return _loads(message)  # the common case
                obj = _take(message)
            finally:
                if self._sem is not None:
                    self._sem.release()
            if obj is not _LOST:
                return obj

    def get_nowait(self) -> Any:
        """``get(False)``."""
        return self.get(False)

    # -- the state ---------------------------------------------------------------

    def qsize(self) -> int:
        """How many objects are in the queue (put and not yet got), roughly."""
        if self._sem is None:
            return self._pending(self._maxsize)
        return int(self._maxsize - self._sem._semlock._get_value())

    def _pending(self, limit: int) -> int:
        """An unbounded queue's count, up to `limit`: the messages in the
        ring and this process's backlog."""
        in_ring = 0 if self._channel.closed else self._channel._pending(limit)
        return in_ring + len(self._buffer)

    def empty(self) -> bool:
        """True if the queue holds no object (roughly). OSError once the queue
        has been used and closed in this process, as multiprocessing's."""
        self._check_fork()
        if self._closed and self._used:
            raise self._closed_handle_error()
        if self._sem is None:
            return self._pending(1) == 0
        return self.qsize() == 0

    def full(self) -> bool:
        """True if ``maxsize`` objects are in the queue (roughly)."""
        if self._sem is None:
            return False
        return bool(self._sem._semlock._is_zero())

    # -- closing -----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called in this process (a fork child's
        copy starts open, as multiprocessing's)."""
        self._check_fork()
        return self._closed

    def _closed_error(self) -> ValueError:
        return ValueError(f"Queue {self!r} is closed")  # multiprocessing's words

    def close(self) -> None:
        """No more ``put`` or ``get`` in this process; what the feeder still
        holds is sent, then the channel is closed here. A queue never used
        in this process stays as it is (``empty()`` still answers)."""
        self._check_fork()
        with self._wake:
            if self._closed:
                return
            self._closed = True
            if self._thread is not None:
                self._wake.notify()  # the feeder flushes, then closes the channel
            elif self._used:
                self._channel.close()
        with _files_lock:
            _files.drop(self)

    def join_thread(self) -> None:
        """After :meth:`close`: wait until everything this process put has
        left it (the feeder's backlog sent, memory files taken by a
        receiver)."""
        assert self._closed, f"Queue {self!r} not closed"
        self._join()

    def _join(self) -> None:
        with self._wake:
            thread = self._thread
            self._stopping = True
            self._wake.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        pause = 0.001
        while True:
            with _files_lock:
                if not _files.pending(self):
                    return
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def cancel_join_thread(self) -> None:
        """Do not wait at exit for what this process put and has not
        delivered yet (it may be lost)."""
        self._joincancelled = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x} maxsize={self._maxsize}>"

    __class_getitem__: Any = classmethod(types.GenericAlias)


class JoinableQueue(Queue):
    """:class:`Queue` with ``task_done()`` and ``join()``, as
    ``multiprocessing.JoinableQueue``."""

    def __init__(self, maxsize: int = 0, *, ctx: Any = None,
                 capacity: int = DEFAULT_CAPACITY) -> None:
        if ctx is None:
            ctx = multiprocessing.get_context()
        super().__init__(maxsize, ctx=ctx, capacity=capacity)
        self._unfinished_tasks = ctx.Semaphore(0)
        self._cond = ctx.Condition()

    def __getstate__(self) -> tuple[Any, ...]:
        return super().__getstate__() + (self._cond, self._unfinished_tasks)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        super().__setstate__(state[:-2])
        self._cond, self._unfinished_tasks = state[-2:]

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        """:meth:`Queue.put`, counting one more unfinished task."""
        self._check_fork()
        if self._closed:
            raise self._closed_error()
        if self._sem is not None and not self._sem.acquire(block, timeout):
            raise queue.Full
        # counted before it is sent, so a task_done() for it can never come first
        with self._cond:
            self._unfinished_tasks.release()
        try:
            self._used = True
            self._send(obj)
        except BaseException:
            if self._sem is not None:
                self._sem.release()
            with self._cond:
                self._unfinished_tasks.acquire(False)
                if self._unfinished_tasks._semlock._is_zero():
                    self._cond.notify_all()
            raise

    def task_done(self) -> None:
        """One task got from the queue is finished (ValueError if called more
        times than objects were put)."""
        with self._cond:
            if not self._unfinished_tasks.acquire(False):
                raise ValueError("task_done() called too many times")
            if self._unfinished_tasks._semlock._is_zero():
                self._cond.notify_all()

    def join(self) -> None:
        """Wait until every object put has been got and its task_done() called."""
        with self._cond:
            if not self._unfinished_tasks._semlock._is_zero():
                self._cond.wait()


class SimpleQueue(Closable):
    """``multiprocessing.SimpleQueue`` on a shared-memory channel: ``put``
    waits while the ring is full (no feeder thread), and an object too large
    for the ring waits in ``put`` until a receiver has opened its memory
    file; ``get`` waits for the next object. After :meth:`close`, ``put``,
    ``get`` and ``empty`` raise OSError (EBADF) as multiprocessing's do, an
    OSError that is also the ValueError of every closed object."""

    def __init__(self, *, ctx: Any = None, capacity: int = DEFAULT_CAPACITY) -> None:
        self._channel = ShmChannel(capacity=capacity)
        weakref.finalize(self, ShmChannel.close, self._channel).atexit = False

    def __getstate__(self) -> ShmChannel:
        _mpcontext.assert_spawning(self)
        return self._channel

    def __setstate__(self, state: ShmChannel) -> None:
        self._channel = state
        weakref.finalize(self, ShmChannel.close, self._channel).atexit = False

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called in this process."""
        return self._channel.closed

    def _closed_error(self) -> ValueError:
        return self._closed_handle_error()

    def put(self, obj: Any) -> None:
        """Put `obj` in the queue (pickling errors raise here)."""
        self._check_open()
        parts, total = _encode(obj)
        if total <= self._channel.max_message_size:
            self._channel._send_parts(parts)
            return
        with _files_lock:
            fd, ref = _make_file(parts, total, self)
        try:
            self._channel.send(ref)
            pause = 0.001
            while os.pread(fd, 4, _FILE_STATE) == _WRITTEN:
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
        except BaseException:
            os.close(fd)
            raise
        with _files_lock:
            _files.keep(fd, id(self), weakref.ref(self))

    def get(self) -> Any:
        """Remove and return the next object, waiting for one."""
        self._check_open()
        while True:
            obj = _take(self._channel._receive_auto(_SMALL))
            if obj is not _LOST:
                return obj

    def empty(self) -> bool:
        """True if no object is waiting in the ring."""
        self._check_open()
        state = self._channel._state()
        return bool(state["rd"] == state["tail"])

    def close(self) -> None:
        """Close the queue in this process (idempotent)."""
        self._channel.close()
        with _files_lock:
            _files.drop(self)

    def __repr__(self) -> str:
        return f"<SimpleQueue at {id(self):#x}>"

    __class_getitem__: Any = classmethod(types.GenericAlias)

