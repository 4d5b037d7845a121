"""The one readiness wait on descriptors, for blocking calls and for their
async twins alike (pipes, FIFOs, coprocesses, sockets).

A blocking call sleeps in poll(2); an async twin registers the descriptors
with the running event loop (add_reader / add_writer) and awaits. Both
count down the caller's :class:`~unixipc._timeouts.Deadline` and report
which descriptors became ready, empty when the deadline passed first. A
wait only says that an attempt may now succeed: the caller makes the
attempt itself, after the wait, so a cancelled async wait never takes
anything (no byte, no connection) that the caller does not return.
"""

from __future__ import annotations

import errno
import select
from typing import Callable, NamedTuple, Sequence, TypeVar

from ._aio import wait_by
from ._timeouts import Deadline

__all__ = ["Ready", "wait_ready", "wait_readable", "wait_writable",
           "wait_ready_async", "wait_readable_async", "wait_writable_async",
           "retry_when_ready"]

_T = TypeVar("_T")

_IN_EVENTS = select.POLLIN | select.POLLHUP | select.POLLERR
_OUT_EVENTS = select.POLLOUT | select.POLLHUP | select.POLLERR


class Ready(NamedTuple):
    """What a wait found: the descriptors ready for reading and for
    writing. Both empty means the deadline passed first (falsy)."""

    readable: frozenset[int]
    writable: frozenset[int]

    def __bool__(self) -> bool:
        return bool(self.readable or self.writable)


_NOTHING = Ready(frozenset(), frozenset())


def wait_ready(readers: Sequence[int], writers: Sequence[int], deadline: Deadline) -> Ready:
    """Block in poll(2) until one of ``readers`` is readable or one of
    ``writers`` writable (end of file, hang-up and errors count as ready:
    the next attempt reports them), or until ``deadline``. A deadline
    already passed still looks once, without waiting. Signals are retried
    with the time left (PEP 475)."""
    poller = select.poll()
    masks: dict[int, int] = {}
    for fd in readers:
        masks[fd] = masks.get(fd, 0) | select.POLLIN
    for fd in writers:
        masks[fd] = masks.get(fd, 0) | select.POLLOUT
    for fd, mask in masks.items():
        poller.register(fd, mask)
    left = deadline.remaining()
    events = poller.poll(None if left is None else left * 1000)
    if not events:
        return _NOTHING
    readable = frozenset(fd for fd, ev in events if ev & _IN_EVENTS and masks[fd] & select.POLLIN)
    writable = frozenset(fd for fd, ev in events
                         if ev & _OUT_EVENTS and masks[fd] & select.POLLOUT)
    return Ready(readable, writable)


def wait_readable(fd: int, deadline: Deadline) -> bool:
    """Block until ``fd`` is readable (True) or ``deadline`` passed (False)."""
    return bool(wait_ready((fd,), (), deadline))


def wait_writable(fd: int, deadline: Deadline) -> bool:
    """Block until ``fd`` is writable (True) or ``deadline`` passed (False)."""
    return bool(wait_ready((), (fd,), deadline))


async def wait_ready_async(readers: Sequence[int], writers: Sequence[int],
                           deadline: Deadline) -> Ready:
    """:func:`wait_ready` in the running event loop: the task awaits while
    the loop watches the descriptors. A deadline already passed looks once
    with poll(2), without waiting. Cancelling the task just stops watching.
    The loop keeps one reader and one writer callback per descriptor, so
    one task at a time may wait on a given descriptor and direction."""
    left = deadline.remaining()
    if left == 0:
        return wait_ready(readers, writers, deadline)
    import asyncio  # not at import time (see _aio)
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    readable: set[int] = set()
    writable: set[int] = set()

    def ready(found: set[int], fd: int) -> None:
        found.add(fd)  # others ready in the same loop pass are seen too
        if not fut.done():
            fut.set_result(None)

    watched_r: list[int] = []
    watched_w: list[int] = []
    try:
        for fd in readers:
            loop.add_reader(fd, ready, readable, fd)
            watched_r.append(fd)
        for fd in writers:
            loop.add_writer(fd, ready, writable, fd)
            watched_w.append(fd)
        try:
            await wait_by(fut, deadline, "")
        except TimeoutError:
            pass  # found nothing: the sets stay empty
    finally:
        for fd in watched_r:
            loop.remove_reader(fd)
        for fd in watched_w:
            loop.remove_writer(fd)
    return Ready(frozenset(readable), frozenset(writable))


async def retry_when_ready(attempt: Callable[[], _T], fileno: Callable[[], int],
                           deadline: Deadline, what: str, *, writable: bool = False) -> _T:
    """The loop of an async twin: ``attempt()`` (a non-blocking try that
    raises BlockingIOError when it would have to wait) until it succeeds,
    awaiting readiness of ``fileno()`` (asked again before each wait, so
    a closed object raises its ValueError) between tries;
    ``TimeoutError(ETIMEDOUT, "<what>: timed out")`` at the deadline. The
    attempt runs only in a live task, after the wait and in the same step,
    so a cancelled call never takes or sends anything it does not report."""
    while True:
        try:
            return attempt()
        except BlockingIOError:
            pass
        fd = fileno()
        ready = await (wait_writable_async(fd, deadline) if writable
                       else wait_readable_async(fd, deadline))
        if not ready:
            raise TimeoutError(errno.ETIMEDOUT, f"{what}: timed out")


async def wait_readable_async(fd: int, deadline: Deadline) -> bool:
    """:func:`wait_readable` in the running event loop."""
    return bool(await wait_ready_async((fd,), (), deadline))


async def wait_writable_async(fd: int, deadline: Deadline) -> bool:
    """:func:`wait_writable` in the running event loop."""
    return bool(await wait_ready_async((), (fd,), deadline))
