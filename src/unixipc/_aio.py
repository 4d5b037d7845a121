"""Machinery behind the async twins (``receive_async``, ``acquire_async``, ...).

System V objects give no readiness notification that an event loop could
wait on, so a wait that cannot finish at once runs in a worker thread of its
own, blocked in the kernel (no polling). Cancelling the awaiting task
interrupts that wait without losing anything: see :func:`run_cancellable`.
"""

from __future__ import annotations

import os as _os
import errno as _errno
import signal as _signal
import threading
from typing import TYPE_CHECKING, Callable, TypeVar

from . import _core
from ._timeouts import Deadline

# asyncio (tens of ms) is imported by the first async call, not with the
# package: `import unixipc` stays light (bench/importtime.py).
if TYPE_CHECKING:
    import asyncio

_T = TypeVar("_T")


async def wait_by(fut: "asyncio.Future[None]", deadline: Deadline, what: str) -> None:
    """Await ``fut`` until ``deadline``; ``TimeoutError(ETIMEDOUT, what)``
    when it runs out (at once when it has already)."""
    import asyncio
    left = deadline.remaining()
    if left is None:
        await fut
        return
    try:
        if left <= 0:
            raise asyncio.TimeoutError
        await asyncio.wait_for(fut, left)
    except asyncio.TimeoutError:
        raise TimeoutError(_errno.ETIMEDOUT, what) from None

#: After a cancellation, the worker is signalled again this often until its
#: call has returned (covers a signal that lands just before the call blocks).
_CANCEL_REPEAT = 0.002


async def run_cancellable(call: Callable[[bytearray], _T], name: str = "unixipc-wait") -> _T:
    """Run ``call(token)`` (a blocking C call taking ``_cancel=token``) in a
    thread of its own; on cancellation set the token and signal the thread
    until the call returns.

    The C call checks the token each time it (re)enters the system call; the
    signal (``_core._cancel_signal()``, a no-op handler without SA_RESTART)
    makes a blocked call return EINTR so that the check happens. The result
    is whatever the call did: done (returned, cancellation absorbed, nothing
    lost) or not done (ECANCELED -> CancelledError).
    """
    import asyncio
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[_T] = loop.create_future()
    token = bytearray(1)
    lock = threading.Lock()
    running = [True]

    def settle(result: object, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        result: object = None
        error: BaseException | None = None
        try:
            result = call(token)
        except BaseException as exc:  # carried to the loop
            error = exc
        with lock:
            running[0] = False
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        pass
    signo = _core._cancel_signal()
    token[0] = 1

    def poke() -> None:
        with lock:
            if not running[0] or worker.ident is None:
                return
            _signal.pthread_kill(worker.ident, signo)
        loop.call_later(_CANCEL_REPEAT, poke)

    poke()
    while not fut.done():
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            continue  # cancelled again: still waiting for the worker
        except BaseException:
            break
    exc = fut.exception()
    if exc is None:
        return fut.result()  # done before the cancellation could stop it
    raise asyncio.CancelledError() from (exc if not (isinstance(exc, OSError) and
                                                      exc.errno == _errno.ECANCELED) else None)


class ChangeWatcher:
    """One helper thread that sleeps on a shared sequence word for every
    async call waiting on it in this process (all event loops), instead of a
    thread per call.

    The object gives two calls: ``hold(delta) -> seq`` (count this process
    as a waiter once more or less, so that wakers bump the word; 0 only
    reads it) and ``wait(seen, timeout) -> seq`` (sleep, GIL released, while
    the word is ``seen``, for at most ``timeout`` seconds).

    :meth:`retry` makes the caller's non-blocking attempt in the loop thread
    and, while it raises BlockingIOError, parks the task until the word
    moves past the value it read before that attempt. The attempt (the only
    thing that takes a message or space) runs only in a task that is still
    live, so a cancelled task never takes anything. The thread ends as soon
    as no task is inside :meth:`retry`; a fork child builds its own watcher
    (see ``owner_pid``).
    """

    #: The helper wakes at least this often (the channel's dead-process check).
    PERIOD = 0.1

    def __init__(self, hold: Callable[[int], int], wait: Callable[[int, float], int],
                 name: str) -> None:
        self.owner_pid = _os.getpid()
        self._hold = hold
        self._wait = wait
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._inside = 0  # tasks inside retry()
        self._parked: dict[int, tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = {}
        self._thread: threading.Thread | None = None

    def threads(self) -> int:
        """1 while the helper thread runs, else 0 (for tests)."""
        return 0 if self._thread is None else 1

    async def retry(self, attempt: Callable[[], _T], deadline: Deadline, what: str) -> _T:
        """``attempt()`` until it does not raise BlockingIOError, or
        ``TimeoutError(ETIMEDOUT, what)`` at ``deadline``. Its other errors
        propagate."""
        import asyncio
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._inside == 0:
                self._hold(1)
            self._inside += 1
        try:
            while True:
                seen = self._hold(0)  # before the attempt: no change is missed
                try:
                    return attempt()
                except BlockingIOError:
                    pass
                fut: asyncio.Future[None] = loop.create_future()
                key = id(fut)
                with self._cond:
                    self._parked[key] = (seen, loop, fut)
                    if self._thread is None:
                        self._thread = threading.Thread(target=self._run, name=self._name,
                                                        daemon=True)
                        self._thread.start()
                    else:
                        self._cond.notify()
                try:
                    await wait_by(fut, deadline, what)
                finally:
                    with self._cond:
                        self._parked.pop(key, None)
        finally:
            with self._cond:
                self._inside -= 1
                if self._inside == 0:
                    self._hold(-1)
                    self._cond.notify()

    def _run(self) -> None:
        seen: int | None = None
        try:
            while True:
                with self._cond:
                    while not self._parked:
                        if self._inside == 0:
                            return
                        # Tasks between a wake-up and their next attempt:
                        # they park again or leave soon.
                        self._cond.wait(self.PERIOD)
                    seen = next(iter(self._parked.values()))[0]
                now = self._wait(seen, self.PERIOD)
                self._wake(lambda s: s != now)
        except BaseException:  # closed under us, say: every task retries and sees why
            self._wake(lambda s: True)
        finally:
            with self._cond:
                self._thread = None
                if self._parked and self._inside:
                    # Parked after our last look: hand them a new helper.
                    self._thread = threading.Thread(target=self._run, name=self._name,
                                                    daemon=True)
                    self._thread.start()

    def _wake(self, which: Callable[[int], bool]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        with self._cond:
            for key, (s, loop, fut) in list(self._parked.items()):
                if which(s):
                    del self._parked[key]
                    by_loop.setdefault(loop, []).append(fut)
        for loop, futs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_all, futs)
            except RuntimeError:
                pass  # the loop is closed: nobody is waiting any more


def _settle_all(futs: "list[asyncio.Future[None]]") -> None:
    for fut in futs:
        if not fut.done():
            fut.set_result(None)
