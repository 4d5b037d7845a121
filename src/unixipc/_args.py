"""Argument checks made in Python before any system call, shared by the
mechanisms (the C core's converters in ``core.h`` apply the same rules).
Each raises TypeError for the wrong type and ValueError for a value out of
range, never OverflowError or NotImplementedError."""

from __future__ import annotations

from typing import Iterable, TypeVar

_T = TypeVar("_T")

#: The largest descriptor number (a C int).
FD_MAX = 0x7FFFFFFF


def check_fd(fd: object, what: str) -> int:
    """``fd`` as a descriptor number (0..FD_MAX); a bool is refused."""
    if isinstance(fd, bool) or not isinstance(fd, int):
        raise TypeError(f"{what} must be a descriptor (an int), not {type(fd).__name__}")
    if not 0 <= fd <= FD_MAX:
        raise ValueError(f"{what} must be a descriptor (0..{FD_MAX}), not {fd}")
    return fd


def is_bytes_like(obj: object) -> bool:
    """Whether ``obj`` exports a buffer (bytes, bytearray, memoryview,
    array, ...): one message, not a sequence of them."""
    try:
        memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


def flat_list(items: Iterable[_T], what: str) -> list[_T]:
    """``items`` as a list. A multi-dimensional memoryview is not a flat
    sequence (iterating one raises NotImplementedError): TypeError."""
    if isinstance(items, memoryview) and items.ndim != 1:
        raise TypeError(f"{what} must be a flat sequence, not a {items.ndim}-dimensional "
                        "memoryview")
    try:
        iterator = iter(items)
    except TypeError:
        raise TypeError(f"{what} must be a sequence, not {type(items).__name__}") from None
    return list(iterator)
