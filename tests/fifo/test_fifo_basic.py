"""FIFOs: every open rule, EOF vs EAGAIN, C peers, planted files refused."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import threading
import time

import pytest

import unixipc
from support import Child, cpu_seconds, wait_blocked
from unixipc import Fifo, NoReaderError, NotAFifoError, mkfifo


@pytest.fixture
def fifo(tmp_path):
    with Fifo(tmp_path / "fifo", create=True) as f:
        yield f


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_mkfifo_mode_defaults_to_owner_only(tmp_path):
    mkfifo(tmp_path / "a")
    st = os.stat(tmp_path / "a")
    assert stat.S_ISFIFO(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    with pytest.raises(FileExistsError):
        mkfifo(tmp_path / "a")


def test_mkfifoat_with_dir_fd(tmp_path):
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        mkfifo("rel", 0o640, dir_fd=dfd)
        assert stat.S_ISFIFO(os.stat(tmp_path / "rel").st_mode)
        f = Fifo("rel", dir_fd=dfd)
        r = f.open_reader(nonblock=True)
        w = f.open_writer(nonblock=True)
        w.write(b"via dir_fd")
        assert r.read(100) == b"via dir_fd"
        r.close(), w.close()
        f.unlink()
        assert not (tmp_path / "rel").exists()
    finally:
        os.close(dfd)


@pytest.mark.parametrize("mode, exc", [(-1, ValueError), (0o10000, ValueError),
                                       ("0600", TypeError)])
def test_bad_mode(tmp_path, mode, exc):
    with pytest.raises(exc):
        mkfifo(tmp_path / "x", mode)
    assert not (tmp_path / "x").exists()


def test_nonblocking_read_open_always_succeeds(fifo):
    r = fifo.open_reader(nonblock=True)
    assert r.read(10) == b""  # no writer: end of file, not EAGAIN
    r.close()


def test_nonblocking_write_open_without_reader_is_no_reader_error(fifo):
    before = _open_fds()
    with pytest.raises(NoReaderError) as info:
        fifo.open_writer(nonblock=True)
    assert info.value.errno == 6
    assert isinstance(info.value, unixipc.IPCError)
    assert _open_fds() == before


def test_nonblocking_write_open_with_reader(fifo):
    r = fifo.open_reader(nonblock=True)
    w = fifo.open_writer(nonblock=True)
    assert not os.get_inheritable(w.fileno())
    with pytest.raises(BlockingIOError):  # writer exists, no data: EAGAIN
        r.read(10)
    w.write(b"data")
    assert r.read(10) == b"data"
    w2 = fifo.open_writer(nonblock=True)
    w.close()
    with pytest.raises(BlockingIOError):  # one writer left: still EAGAIN, not EOF
        r.read(10)
    w2.close()
    assert r.read(10) == b""  # every writer closed: EOF
    r.close()


@pytest.mark.parametrize("side", ["reader", "writer"])
def test_blocking_open_times_out_without_leaking(fifo, side):
    before = _open_fds()
    cpu0, t0 = cpu_seconds(), time.monotonic()
    with pytest.raises(TimeoutError) as info:
        getattr(fifo, "open_" + side)(timeout=0.3)
    assert 0.29 <= time.monotonic() - t0 < 2.0
    assert cpu_seconds() - cpu0 < 0.15  # waited, did not poll
    assert info.value.errno == 110
    assert _open_fds() == before


def test_writer_open_with_zero_timeout(fifo):
    with pytest.raises(TimeoutError):
        fifo.open_writer(timeout=0)
    r = fifo.open_reader(nonblock=True)
    w = fifo.open_writer(timeout=0)
    assert not w.nonblocking  # the attempt was non-blocking, the end is not
    w.close(), r.close()


def _open_writer_and_write(path: str, data: bytes) -> int:
    w = Fifo(path).open_writer(timeout=10)
    n = w.write(data)
    w.close()
    return n


def test_blocking_open_waits_for_the_other_side(fifo):
    child = Child(_open_writer_and_write, fifo.path, b"hello fifo")
    try:
        wait_blocked(child.pid)  # blocked in open(O_WRONLY): no reader yet
        r = fifo.open_reader(timeout=10)
        assert r.read_exactly(10, timeout=10) == b"hello fifo"
        assert r.read(10, timeout=10) == b""
        assert child.result() == 10
        r.close()
    finally:
        child.close()


def _open_reader_and_read(path: str) -> bytes:
    r = Fifo(path).open_reader(timeout=10)
    data = r.readall(timeout=10)
    r.close()
    return data


def test_blocked_writer_open_wakes_when_a_reader_comes(fifo):
    child = Child(_open_reader_and_read, fifo.path)
    try:
        wait_blocked(child.pid)  # blocked in open(O_RDONLY)
        w = fifo.open_writer(timeout=10)
        w.write(b"x" * 100_000)
        w.close()
        assert child.result() == b"x" * 100_000
    finally:
        child.close()


def test_c_writer_is_read_completely(fifo, cpeer):
    exe = cpeer("fifo_writer")
    proc = subprocess.Popen([exe, fifo.path], stdout=subprocess.PIPE)
    try:
        r = fifo.open_reader(timeout=10)
        data = r.readall(timeout=10)
        r.close()
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert data == b"*" * 5120
    assert out == b"wrote 5120\n"


def test_c_reader_gets_what_python_writes(fifo, cpeer):
    exe = cpeer("fifo_reader")
    payload = bytes(range(256)) * 1000
    proc = subprocess.Popen([exe, fifo.path], stdout=subprocess.PIPE)
    try:
        w = fifo.open_writer(timeout=10)
        w.write(payload)
        w.close()
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert out.split() == [str(len(payload)).encode(), str(sum(payload)).encode()]


def test_planted_symlink_is_refused(tmp_path):
    real = tmp_path / "real"
    mkfifo(real)
    link = tmp_path / "fifo"
    link.symlink_to(real)
    f = Fifo(link)
    for opener in (f.open_reader, f.open_writer):
        with pytest.raises(NotAFifoError, match="symbolic link"):
            opener(nonblock=True)
    with pytest.raises(NotAFifoError):
        Fifo(link, create=True)


def test_planted_regular_file_is_refused(tmp_path):
    path = tmp_path / "fifo"
    path.write_bytes(b"secret")
    before = _open_fds()
    with pytest.raises(NotAFifoError, match="regular file") as info:
        Fifo(path).open_reader(nonblock=True)
    assert isinstance(info.value, FileExistsError)
    with pytest.raises(NotAFifoError):
        Fifo(path).open_writer(timeout=1)
    with pytest.raises(NotAFifoError):
        Fifo(path, create=True)
    assert _open_fds() == before
    assert path.read_bytes() == b"secret"


def test_file_swapped_in_after_the_check_is_refused_by_fstat(tmp_path):
    # The C side's fstat check, independent of the Python pre-check.
    path = tmp_path / "file"
    path.write_bytes(b"")
    assert unixipc._core.open_fifo(str(path), os.O_RDONLY | os.O_NONBLOCK) is None
    with pytest.raises(OSError) as info:
        link = tmp_path / "link"
        link.symlink_to(path)
        unixipc._core.open_fifo(str(link), os.O_RDONLY | os.O_NONBLOCK)
    assert info.value.errno == 40  # ELOOP: O_NOFOLLOW


def test_exclusive_create_and_context_unlink(tmp_path):
    path = tmp_path / "f"
    with Fifo(path, create=True) as f:
        assert f.exists()
        with pytest.raises(FileExistsError):
            Fifo(path, create=True, exclusive=True)
        same = Fifo(path, create=True)  # an existing FIFO is fine
        assert not same.created
    assert not path.exists()


def test_missing_fifo(tmp_path):
    with pytest.raises(FileNotFoundError):
        Fifo(tmp_path / "nope").open_reader(nonblock=True)


def test_signals_during_an_untimed_open_are_retried(fifo):
    # (a timed open under signals is a row of tests/contracts/test_waits.py)
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
        # a writer arrives later while signals keep coming
        timer = threading.Timer(0.3, lambda: _open_writer_and_write(fifo.path, b"late"))
        timer.start()
        r = fifo.open_reader()
        assert r.read_exactly(4, timeout=5) == b"late"
        timer.join()
        r.close()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(hits) >= 5


def test_write_to_fifo_without_reader_is_broken_pipe(fifo):
    r = fifo.open_reader(nonblock=True)
    w = fifo.open_writer(nonblock=True)
    r.close()
    with pytest.raises(BrokenPipeError):
        w.write(b"x")
    w.close()


def _open_as_other_user(path: str) -> str:
    try:
        Fifo(path).open_writer(nonblock=True)
    except PermissionError as exc:
        return f"PermissionError {exc.errno}"
    except NoReaderError:
        return "opened (no reader)"
    return "opened"


def test_default_mode_keeps_other_users_out():
    import shutil
    import tempfile
    from support import NOBODY
    d = tempfile.mkdtemp()
    try:
        os.chmod(d, 0o755)  # others may look up names, the FIFO decides
        mkfifo(os.path.join(d, "private"))
        mkfifo(os.path.join(d, "shared"), 0o666)
        os.chmod(os.path.join(d, "shared"), 0o666)  # past the umask
        results = []
        for name in ("private", "shared"):
            child = Child(_open_as_other_user, os.path.join(d, name), uid=NOBODY)
            try:
                results.append(child.result())
            finally:
                child.close()
    finally:
        shutil.rmtree(d)
    assert results == ["PermissionError 13", "opened (no reader)"]


def _open_errors(path: str) -> list[tuple[str, object, str]]:
    """What each failing open raised: class name, filename, message."""
    found = []
    for opener in (lambda: Fifo(path).open_writer(nonblock=True),
                   lambda: Fifo(path).open_reader(nonblock=True)):
        try:
            opener().close()
        except OSError as exc:
            found.append((type(exc).__name__, exc.filename, str(exc)))
    return found


def test_open_errors_name_the_path(tmp_path, fifo):
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError) as missing_info:
        Fifo(missing).open_reader(nonblock=True)
    with pytest.raises(NoReaderError) as no_reader_info:
        fifo.open_writer(nonblock=True)
    with pytest.raises(TimeoutError) as timeout_info:
        fifo.open_writer(timeout=0.05)
    for info, path in ((missing_info, missing), (no_reader_info, fifo.path),
                       (timeout_info, fifo.path)):
        assert info.value.filename == os.fsdecode(path), info.value
        assert os.fsdecode(path) in str(info.value)
    assert missing_info.value.errno == errno.ENOENT
    assert no_reader_info.value.errno == errno.ENXIO


def test_permission_error_names_the_path():
    import shutil
    import tempfile
    from support import NOBODY
    d = tempfile.mkdtemp()  # tmp_path's parents are closed to other users
    try:
        os.chmod(d, 0o755)
        path = os.path.join(d, "private")
        mkfifo(path)  # 0o600: nobody may not open it
        child = Child(_open_errors, path, uid=NOBODY)
        try:
            found = child.result()
        finally:
            child.close()
    finally:
        shutil.rmtree(d)
    assert [(name, filename) for name, filename, _ in found] == \
        [("PermissionError", path)] * 2, found


def test_mkfifo_errors_name_the_path(tmp_path):
    path = str(tmp_path / "twice")
    mkfifo(path)
    with pytest.raises(FileExistsError) as info:
        mkfifo(path)
    assert info.value.filename == path
    assert str(info.value).count(path) == 1
