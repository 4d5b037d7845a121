"""What the compatibility layers share: exception classes that are a
package's error and unixipc's OSError subclass at once, the translation of
unixipc's errors into them, and read-only attributes that refuse
assignment as a C extension's do.

Used by :mod:`unixipc.compat.sysv_ipc` and :mod:`unixipc.compat.posix_ipc`.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar, overload

__all__ = ["both", "translated", "ReadOnly", "Unpicklable"]

_T = TypeVar("_T")


def both(name: str, module: str, *bases: type[BaseException]) -> type[OSError]:
    """A class that is a package's error (``bases[0]``) and unixipc's
    OSError subclass (the others) at once, shown as ``module.name``."""
    cls = type(name, bases, {"__module__": module, "__doc__": bases[0].__doc__})
    cls.__qualname__ = name
    return cls


def translated(exc: OSError, base: type[OSError],
               table: Sequence[tuple[type[OSError], type[OSError]]],
               by_errno: Mapping[int, type[OSError]] | None = None) -> OSError:
    """``exc`` (raised by unixipc) as the package's class it stands for:
    the first ``table`` row whose unixipc class it is an instance of, else
    the ``by_errno`` class of its errno; errno, message and object name
    kept. An error that is already a ``base`` or has no such class is
    returned as it is (the packages raise a plain OSError then)."""
    if isinstance(exc, base):
        return exc
    ours: type[OSError] | None = None
    for native, cls in table:
        if isinstance(exc, native):
            ours = cls
            break
    else:
        if by_errno is not None and exc.errno is not None:
            ours = by_errno.get(exc.errno)
    if ours is None:
        return exc
    new = ours(*exc.args) if exc.errno is None else ours(exc.errno, exc.strerror, exc.filename)
    new.__traceback__ = exc.__traceback__
    return new


class ReadOnly(Generic[_T]):
    """A read-only attribute that refuses assignment with the words CPython
    uses for a C extension's attribute (or with ``message``)."""

    def __init__(self, fget: Callable[[Any], _T], message: str | None = None) -> None:
        self._fget = fget
        self._message = message
        self._name = fget.__name__
        self.__doc__ = fget.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> ReadOnly[_T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...

    def __get__(self, obj: object, owner: type | None = None) -> _T | ReadOnly[_T]:
        if obj is None:
            return self
        return self._fget(obj)

    def _refuse(self, obj: object) -> AttributeError:
        if self._message is not None:
            return AttributeError(self._message)
        cls = type(obj)
        return AttributeError(f"attribute '{self._name}' of '{cls.__module__}."
                              f"{cls.__qualname__}' objects is not writable")

    def __set__(self, obj: object, value: object) -> None:
        raise self._refuse(obj)

    def __delete__(self, obj: object) -> None:
        raise self._refuse(obj)


class Unpicklable:
    """A handle that, as the packages' own, cannot be pickled: what it
    holds (a descriptor, an attachment) means nothing in another process.
    ``_reopen`` says what to do there instead."""

    _reopen = "open the object again in the other process"

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError(f"cannot pickle '{type(self).__module__}.{type(self).__qualname__}' "
                        f"object ({self._reopen})")
