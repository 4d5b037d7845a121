"""Machinery behind the async twins (``receive_async``, ``acquire_async``, ...).

System V objects give no readiness notification that an event loop could
wait on, so a wait that cannot finish at once runs in a worker thread of its
own, blocked in the kernel (no polling). Cancelling the awaiting task
interrupts that wait without losing anything: see :func:`run_cancellable`.
"""

from __future__ import annotations

import asyncio
import errno as _errno
import signal as _signal
import threading
from typing import Callable, TypeVar

from . import _core

_T = TypeVar("_T")


async def wait_by(fut: "asyncio.Future[None]", deadline: float | None, what: str) -> None:
    """Await ``fut`` until ``deadline`` (the running loop's clock; None:
    no limit). A deadline already passed fails at once;
    ``TimeoutError(ETIMEDOUT, what)`` when it runs out."""
    if deadline is None:
        await fut
        return
    left = deadline - asyncio.get_running_loop().time()
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
