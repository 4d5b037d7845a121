"""A pipe end closed by Python code that runs inside read/write (argument
conversion, a signal handler while the call waits) ends the call with
ValueError; the call never goes on with the old number, which by then may
name another file. Each case puts another file under the very number
(dup2), so going on would read or write that file."""

from __future__ import annotations

import os
import signal

import pytest

from support import Child
from unixipc import Pipe, PipeReader, PipeWriter

SECRET = b"not the pipe's data"


def _take_number(fd: int, path: str, flags: int) -> None:
    """Put the file at path under descriptor number fd (closed just before)."""
    other = os.open(path, flags, 0o600)  # often the same number already
    if other != fd:
        os.dup2(other, fd, inheritable=False)
        os.close(other)


def _closer(end: PipeReader | PipeWriter, path: str, flags: int):
    """Closes ``end`` and opens ``path`` under its number; returns None."""
    def close_and_reuse(*_: object) -> None:
        fd = end.fileno()
        end.close()
        _take_number(fd, path, flags)
    return close_and_reuse


class _Seconds:
    def __init__(self, action) -> None:
        self.action = action

    def __float__(self) -> float:
        self.action()
        return 5.0


class _Truth:
    def __init__(self, action) -> None:
        self.action = action

    def __bool__(self) -> bool:
        self.action()
        return True


class _Size:
    def __init__(self, action) -> None:
        self.action = action

    def __index__(self) -> int:
        self.action()
        return 100


def _fd_offset(fd: int) -> int:
    return os.lseek(fd, 0, os.SEEK_CUR)


@pytest.mark.parametrize("arg", ["timeout", "block"])
def test_argument_conversion_closing_the_writer(tmp_path, arg):
    path = str(tmp_path / "other")
    with Pipe() as p:
        fd = p.writer.fileno()
        close = _closer(p.writer, path, os.O_WRONLY | os.O_CREAT)
        kwargs = {"timeout": _Seconds(close)} if arg == "timeout" else {"block": _Truth(close)}
        try:
            with pytest.raises(ValueError, match="closed"):
                p.writer.write(b"for the pipe", **kwargs)
        finally:
            os.close(fd)  # the other file, now under the writer's number
        assert os.path.getsize(path) == 0
        assert p.reader.read(100, block=False) == b""  # end of file, nothing written
    assert p.writer.closed


@pytest.mark.parametrize("arg", ["timeout", "block", "size"])
def test_argument_conversion_closing_the_reader(tmp_path, arg):
    path = tmp_path / "other"
    path.write_bytes(SECRET)
    with Pipe() as p:
        p.writer.write(b"pipe data")
        fd = p.reader.fileno()
        close = _closer(p.reader, str(path), os.O_RDONLY)
        size: object = 100
        kwargs: dict[str, object] = {}
        if arg == "timeout":
            kwargs["timeout"] = _Seconds(close)
        elif arg == "block":
            kwargs["block"] = _Truth(close)
        else:
            size = _Size(close)
        try:
            with pytest.raises(ValueError, match="closed"):
                p.reader.read(size, **kwargs)  # type: ignore[arg-type]
            assert _fd_offset(fd) == 0  # nothing of the other file was read
        finally:
            os.close(fd)
    assert p.reader.closed


def _blocked_write_closed_by_handler(path: str, fill: int, timeout: float | None) -> tuple:
    p = Pipe()
    fd = p.writer.fileno()
    p.writer.write(b"f" * fill)  # leaves capacity - fill bytes of space
    signal.signal(signal.SIGALRM, _closer(p.writer, path, os.O_WRONLY | os.O_CREAT))
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        p.writer.write(b"w" * 100_000, timeout=timeout)
        outcome = "written"
    except ValueError as exc:
        outcome = f"ValueError: {exc}"
    signal.setitimer(signal.ITIMER_REAL, 0)
    return outcome, p.writer.closed, os.path.getsize(path), os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["untimed", "timed"])
@pytest.mark.parametrize("fill", [65536, 60000], ids=["full", "part-written"])
def test_signal_handler_closing_a_blocked_writer(tmp_path, fill, timeout):
    path = str(tmp_path / "other")
    child = Child(_blocked_write_closed_by_handler, path, fill, timeout)
    try:
        outcome, closed, size, target = child.result(timeout=20)
    finally:
        child.close()
    assert target == path  # the number did name the other file
    assert closed and outcome.startswith("ValueError") and "closed" in outcome, outcome
    assert size == 0


def _blocked_read_closed_by_handler(path: str, timeout: float | None) -> tuple:
    p = Pipe()
    fd = p.reader.fileno()
    signal.signal(signal.SIGALRM, _closer(p.reader, path, os.O_RDONLY))
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        outcome = repr(p.reader.read(100, timeout=timeout))
    except ValueError as exc:
        outcome = f"ValueError: {exc}"
    signal.setitimer(signal.ITIMER_REAL, 0)
    return outcome, p.reader.closed, _fd_offset(fd), os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["untimed", "timed"])
def test_signal_handler_closing_a_blocked_reader(tmp_path, timeout):
    path = tmp_path / "other"
    path.write_bytes(SECRET)
    child = Child(_blocked_read_closed_by_handler, str(path), timeout)
    try:
        outcome, closed, offset, target = child.result(timeout=20)
    finally:
        child.close()
    assert target == str(path)
    assert closed and outcome.startswith("ValueError") and "closed" in outcome, outcome
    assert offset == 0  # nothing of the other file was read
