"""The one check of a ``timeout=`` argument made in Python (the C core's
``unixipc_deadline_from_timeout`` applies the same rules to C calls)."""

from __future__ import annotations


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
