"""The errno table and the C core's error raising."""

from __future__ import annotations

import errno

import pytest

import unixipc
from unixipc import _core
from unixipc.errors import error_from_errno


@pytest.mark.parametrize("err, cls", [
    (errno.EIDRM, unixipc.ObjectRemovedError),
    (errno.E2BIG, unixipc.MessageTooLongError),
    (errno.ENXIO, unixipc.NoReaderError),
    (errno.ENOMSG, BlockingIOError),
    (errno.EAGAIN, BlockingIOError),
    (errno.EEXIST, FileExistsError),
    (errno.ENOENT, FileNotFoundError),
    (errno.EACCES, PermissionError),
    (errno.EPERM, PermissionError),
    (errno.EPIPE, BrokenPipeError),
    (errno.EINVAL, OSError),
])
def test_errno_maps_to_class_and_keeps_errno(err, cls):
    with pytest.raises(cls) as info:
        _core._raise_errno("msgrcv", err)
    assert type(info.value) is cls or cls is OSError
    assert info.value.errno == err
    assert str(info.value).startswith(f"[Errno {err}] msgrcv: ")


def test_added_classes_are_ipc_errors():
    for cls in (unixipc.ObjectRemovedError, unixipc.MessageTooLongError, unixipc.NoReaderError):
        assert issubclass(cls, unixipc.IPCError)
        assert issubclass(cls, OSError)
        assert cls.__doc__


def test_error_from_errno_returns_same_mapping():
    exc = error_from_errno(errno.EIDRM, "semop")
    assert isinstance(exc, unixipc.ObjectRemovedError)
    assert "semop" in str(exc)
