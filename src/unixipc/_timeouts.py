"""The one check of a ``timeout=`` argument made in Python (the C core's
``unixipc_deadline_from_timeout`` applies the same rules to C calls), and
the one :class:`Deadline` every Python-side wait counts down."""

from __future__ import annotations

import time


def check_timeout(timeout: float | None) -> float | None:
    """Return ``timeout`` as a float, or None for "wait forever".

    Raises:
        TypeError: not None and not a real number (a bool is refused: True
            would silently mean one second).
        ValueError: negative or NaN.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, "
                        f"not {type(timeout).__name__}")
    seconds = float(timeout)
    if not seconds >= 0:  # also NaN
        raise ValueError("timeout must be >= 0 (or None to wait forever)")
    return seconds


class Deadline:
    """When a call with a ``timeout=`` must give up, on the monotonic clock.

    Built once at the start of a call from its ``timeout=`` (checked with
    :func:`check_timeout`; None means no limit), then asked for the time
    left before each wait, so every retry (after a signal, a lost race, a
    partial transfer) waits only for what is left of the caller's budget.
    Event-loop waits use :meth:`remaining` as a relative delay, so the loop's
    own clock never has to agree with this one.
    """

    __slots__ = ("_at",)

    def __init__(self, timeout: float | None) -> None:
        seconds = check_timeout(timeout)
        self._at = None if seconds is None else time.monotonic() + seconds

    @property
    def forever(self) -> bool:
        """True when there is no limit (``timeout=None``)."""
        return self._at is None

    def remaining(self) -> float | None:
        """Seconds left, never negative; None when there is no limit."""
        if self._at is None:
            return None
        return max(0.0, self._at - time.monotonic())

    @property
    def expired(self) -> bool:
        """True once the limit has passed (never without a limit)."""
        return self._at is not None and time.monotonic() >= self._at

    def __repr__(self) -> str:
        left = self.remaining()
        return "<Deadline forever>" if left is None else f"<Deadline {left:.3f} s left>"
