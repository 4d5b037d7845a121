"""What "closed" means, once for every closable object: ``closed``, the
ValueError after close, and the ResourceWarning when an object is collected
unclosed (as files and sockets do)."""

from __future__ import annotations

import errno
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

__all__ = ["Closable", "ClosableResource", "ClosedHandleError"]


class ClosedHandleError(OSError, ValueError):
    """Use after close where multiprocessing raises OSError (EBADF,
    "handle is closed"): both that OSError and the ValueError every other
    closed object raises, as :class:`io.UnsupportedOperation` is both."""


class Closable:
    """``closed`` and the check every public method makes first.

    A class keeps its state in ``_closed`` or overrides :attr:`closed`;
    a C base that defines ``closed`` comes before this class in the bases,
    so its getter wins."""

    __slots__ = ()
    _closed: bool

    if TYPE_CHECKING:
        def close(self) -> object: ...

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (or the object was detached)."""
        return self._closed

    def _check_open(self) -> None:
        """ValueError naming the object once it is closed."""
        if self.closed:
            raise self._closed_error()

    def _closed_error(self) -> ValueError:
        """The error of a use after close, for hot paths that test their
        own flag."""
        return ValueError(f"I/O operation on closed {self!r}")

    def _closed_handle_error(self) -> ClosedHandleError:
        return ClosedHandleError(errno.EBADF, f"{type(self).__name__} {self!r} is closed")


class ClosableResource(Closable):
    """A :class:`Closable` that warns (ResourceWarning, ``source=self``)
    when it is collected unclosed in the process that made it, then
    releases what it holds (:meth:`_release`).

    Only the owner warns: a fork child's copy of the parent's object was
    never the child's to close, so the child dropping it leaks nothing.
    Nothing is warned while the interpreter shuts down: what is still
    referenced then was not lost by the program, and the warnings machinery
    may already be half torn down."""

    _owner_pid: int = 0  # 0 until _opened(): a half-built object never warns

    def _opened(self) -> None:
        """Record this process as the owner; called by ``__init__`` once the
        object holds its resource."""
        self._owner_pid = os.getpid()

    def _release(self) -> None:
        """Free what an unclosed object holds at collection, without
        blocking. Default: :meth:`close`."""
        self.close()

    def _dealloc_warn(self, source: object, _finalizing: Any = sys.is_finalizing,
                      _getpid: Any = os.getpid, _warn: Any = warnings.warn) -> None:
        # Also called by io.Buffered* when a buffered wrapper around this
        # object is collected unclosed (as FileIO._dealloc_warn is). The
        # defaults keep the functions reachable while modules are torn down.
        if not _finalizing() and not self.closed and self._owner_pid == _getpid():
            _warn(f"unclosed {source!r}", ResourceWarning, stacklevel=2, source=source)

    def __del__(self) -> None:
        if not self._owner_pid:
            return  # its __init__ failed: what it held was released there
        try:
            closed = self.closed
        except Exception:
            return
        if closed:
            return
        try:
            self._dealloc_warn(self)
        finally:
            try:
                self._release()
            except Exception:  # collected: nobody to tell but the warning above
                pass
