"""unixipc.compat.posix_ipc: posix_ipc's meaning kept, what it fixes, and
interop both ways with the real posix_ipc and unixipc's native classes."""

from __future__ import annotations

import errno
import gc
import mmap
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import warnings
from typing import Any, Callable, Iterator

import pytest

import unixipc.compat.posix_ipc as shim
from support import posix_name
from unixipc import posix

import posix_ipc as real  # the test extra installs it

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def made() -> Iterator[Callable[..., Any]]:
    """``make(cls, *args, **kwargs)``: an object of the shim or the real
    package; each one's name is unlinked at teardown (closing is left to
    the test, as posix_ipc leaves it to its users)."""
    objects: list[Any] = []

    def make(cls: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        obj = cls(*args, **kwargs)
        objects.append(obj)
        return obj
    yield make
    unlink = {"Semaphore": shim.unlink_semaphore, "SharedMemory": shim.unlink_shared_memory,
              "MessageQueue": shim.unlink_message_queue}
    for obj in objects:
        try:
            unlink[type(obj).__name__](obj.name)
        except shim.ExistentialError:
            pass


def _ticking(interval: float = 0.05) -> Callable[[], list[int]]:
    """SIGALRM every ``interval`` s, counted; the returned call stops it
    and gives what the handler saw."""
    seen: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda signo, frame: seen.append(signo))
    signal.setitimer(signal.ITIMER_REAL, interval, interval)

    def stop() -> list[int]:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        return seen
    return stop


# ---- posix_ipc's meaning -----------------------------------------------------------


def test_receive_returns_message_then_priority_and_str_is_sent_as_utf8(
        made: Callable[..., Any]) -> None:
    mq = made(shim.MessageQueue, posix_name("mq"), shim.O_CREX)
    mq.send("Göteborg", priority=7)
    mq.send(b"low")
    assert mq.receive() == ("Göteborg".encode(), 7)
    assert tuple(mq.receive(0)) == (b"low", 0)
    mq.close()


def test_constants_are_the_packages() -> None:
    for name in ("O_CREAT", "O_EXCL", "O_CREX", "O_TRUNC", "O_RDONLY", "O_WRONLY", "O_RDWR",
                 "O_NONBLOCK", "PAGE_SIZE", "SEMAPHORE_VALUE_MAX", "QUEUE_PRIORITY_MAX",
                 "USER_SIGNAL_MIN", "USER_SIGNAL_MAX", "SEMAPHORE_TIMEOUT_SUPPORTED",
                 "SEMAPHORE_VALUE_SUPPORTED", "MESSAGE_QUEUES_SUPPORTED", "VERSION",
                 "__version__"):
        assert getattr(shim, name) == getattr(real, name), name
    # Read from this namespace's /proc/sys/fs/mqueue (the package's are fixed at build).
    assert shim.QUEUE_MESSAGES_MAX_DEFAULT == posix.limits().msg_default
    assert shim.QUEUE_MESSAGE_SIZE_MAX_DEFAULT == posix.limits().msgsize_default
    public = {n for n in dir(real) if not n.startswith("_")}
    assert public <= set(shim.__all__) and set(shim.__all__) <= set(dir(shim))


def test_exceptions_are_both_posix_ipc_and_unixipc_classes(made: Callable[..., Any]) -> None:
    name = posix_name("mq")
    mq = made(shim.MessageQueue, name, shim.O_CREX, max_messages=1, max_message_size=8)
    with pytest.raises(shim.ExistentialError) as exists:
        shim.MessageQueue(name, shim.O_CREX)
    assert isinstance(exists.value, FileExistsError) and exists.value.errno == errno.EEXIST
    assert type(exists.value).__name__ == "ExistentialError"
    with pytest.raises(FileNotFoundError) as missing:
        shim.Semaphore(posix_name("never"))
    assert isinstance(missing.value, shim.ExistentialError)
    assert isinstance(missing.value, shim.Error) and isinstance(missing.value, OSError)
    with pytest.raises(BlockingIOError) as busy:
        mq.receive(0)
    assert isinstance(busy.value, shim.BusyError) and busy.value.errno == errno.EAGAIN
    mq.send(b"x")
    with pytest.raises(TimeoutError) as full:
        mq.send(b"y", 0.05)
    assert isinstance(full.value, shim.BusyError)
    reader = shim.MessageQueue(name, write=False)
    with pytest.raises(PermissionError) as denied:
        reader.send(b"z")
    assert isinstance(denied.value, shim.PermissionsError)
    reader.close()
    with pytest.raises(ValueError):
        mq.send(b"123456789")  # longer than max_message_size, before any call
    with pytest.raises(ValueError):
        mq.send(b"", priority=shim.QUEUE_PRIORITY_MAX + 1)
    mq.close()
    with pytest.raises(shim.ExistentialError) as closed:
        mq.receive()
    assert isinstance(closed.value, ValueError) and closed.value.errno == errno.EBADF
    with pytest.raises(shim.ExistentialError):
        mq.close()  # as posix_ipc: closing twice is an error
    assert mq.mqd == -1 and mq.fileno() == -1


def test_flags_names_and_read_only_attributes(made: Callable[..., Any]) -> None:
    with pytest.raises(ValueError):
        shim.Semaphore(None, shim.O_CREAT)
    with pytest.raises(ValueError):
        shim.Semaphore(posix_name("x"), shim.O_EXCL)
    with pytest.raises(ValueError):
        shim.Semaphore("no-slash", shim.O_CREX)  # unixipc's name rules, before any call
    sem = made(shim.Semaphore, None, shim.O_CREX, mode=0o640, initial_value=3)
    assert sem.name.startswith("/") and 6 <= len(sem.name) <= 13
    assert sem.name[1:].isalpha() and sem.name.islower()
    assert (sem.value, sem.mode, str(sem)) == (3, 0o640, sem.name)
    assert repr(sem) == f'unixipc.compat.posix_ipc.Semaphore("{sem.name}", mode=0o640)'
    for attr in ("name", "mode", "value"):
        with pytest.raises(AttributeError):
            setattr(sem, attr, 1)
    again = shim.Semaphore(os.fsencode(sem.name), shim.O_CREAT, initial_value=9)
    assert again.name == sem.name and again.value == 3
    again.close()
    sem.close()


def test_semaphore_with_acquires_and_releases_and_never_unlinks(
        made: Callable[..., Any]) -> None:
    sem = made(shim.Semaphore, posix_name(), shim.O_CREX, initial_value=1)
    with sem as held:
        assert held is sem and sem.value == 0
        with pytest.raises(shim.BusyError):
            sem.acquire(0)
    assert sem.value == 1
    assert shim.Semaphore(sem.name).value == 1  # the name is still there
    sem.close()
    with pytest.raises(shim.ExistentialError) as closed:
        sem.release()
    assert isinstance(closed.value, ValueError)
    with pytest.raises(shim.ExistentialError):
        sem.acquire()
    sem.unlink()  # after close, as posix_ipc's documentation says (the package refuses)
    with pytest.raises(shim.ExistentialError):
        shim.unlink_semaphore(sem.name)
    theirs = made(real.Semaphore, sem.name, real.O_CREX)
    theirs.close()
    with pytest.raises(real.ExistentialError, match="closed"):
        theirs.unlink()


def test_handles_cannot_be_pickled_as_posix_ipcs(made: Callable[..., Any]) -> None:
    import pickle
    for obj in (made(shim.Semaphore, posix_name(), shim.O_CREX),
                made(shim.MessageQueue, posix_name("mq"), shim.O_CREX),
                made(shim.SharedMemory, posix_name("shm"), shim.O_CREX)):
        with pytest.raises(TypeError, match="cannot pickle"):
            pickle.dumps(obj)
        getattr(obj, "close_fd", getattr(obj, "close", None))()


def test_a_handle_collected_unclosed_warns_nothing(made: Callable[..., Any]) -> None:
    """posix_ipc documents that collection closes nothing and asks for no
    warning; the shim's semaphore and queue handles close silently."""
    name = posix_name()
    made(shim.Semaphore, name, shim.O_CREX).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shim.Semaphore(name).release()
        shim.MessageQueue(posix_name("mq"), shim.O_CREX).unlink()
        gc.collect()
    assert shim.Semaphore(name).value == 1


def test_a_timeout_really_waits_and_raises_busy(made: Callable[..., Any]) -> None:
    sem = made(shim.Semaphore, posix_name(), shim.O_CREX)
    start = time.monotonic()
    with pytest.raises(shim.BusyError) as info:
        sem.acquire(0.3)
    assert 0.28 <= time.monotonic() - start < 2
    assert isinstance(info.value, TimeoutError)
    with pytest.raises(TypeError):
        sem.acquire(-1)
    sem.close()


def test_a_signal_does_not_end_the_wait_as_it_does_with_the_real_package(
        made: Callable[..., Any]) -> None:
    """posix_ipc raises SignalError; here EINTR is retried with the time
    left, after the Python handler ran."""
    sem = made(shim.Semaphore, posix_name(), shim.O_CREX)
    stop = _ticking()
    try:
        start = time.monotonic()
        with pytest.raises(shim.BusyError):
            sem.acquire(0.5)
        assert time.monotonic() - start >= 0.48
        with pytest.raises(real.SignalError):
            real.Semaphore(sem.name).acquire(0.5)
    finally:
        seen = stop()
    assert len(seen) >= 4
    sem.close()


def test_a_signal_does_not_end_a_blocking_receive(made: Callable[..., Any]) -> None:
    mq = made(shim.MessageQueue, posix_name("mq"), shim.O_CREX)
    def send_late() -> None:
        with posix.MessageQueue(mq.name) as native:
            native.send(b"late", 2)
    sender = threading.Timer(0.4, send_late)
    stop = _ticking()
    sender.start()
    try:
        assert mq.receive() == (b"late", 2)
    finally:
        seen = stop()
        sender.join()
    assert seen
    mq.close()


def test_an_exception_from_a_signal_handler_ends_the_wait(made: Callable[..., Any]) -> None:
    sem = made(shim.Semaphore, posix_name(), shim.O_CREX)

    class Stop(Exception):
        pass

    def handler(signo: int, frame: object) -> None:
        raise Stop

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    try:
        with pytest.raises(Stop):
            sem.acquire(5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    sem.close()


def test_block_false_never_waits_whatever_the_timeout(made: Callable[..., Any]) -> None:
    mq = made(shim.MessageQueue, posix_name("mq"), shim.O_CREX | shim.O_NONBLOCK,
              max_messages=1)
    assert mq.block is False
    start = time.monotonic()
    with pytest.raises(BlockingIOError):
        mq.receive(10)
    mq.send(b"1")
    with pytest.raises(shim.BusyError):
        mq.send(b"2", 10)
    assert time.monotonic() - start < 1
    mq.block = True
    assert mq.current_messages == 1 and mq.receive() == (b"1", 0)
    mq.close()


def test_notification_by_thread_by_signal_and_cancelled(made: Callable[..., Any]) -> None:
    mq = made(shim.MessageQueue, posix_name("mq"), shim.O_CREX)
    got = threading.Event()
    params: list[object] = []
    mq.request_notification((lambda p: (params.append(p), got.set()), "param"))
    mq.request_notification((lambda p: (params.append(p), got.set()), "again"))  # replaces
    mq.send(b"1")
    assert got.wait(5) and params == ["again"]
    mq.receive()
    seen: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda signo, frame: seen.append(signo))
    try:
        mq.request_notification(signal.SIGUSR1)
        mq.send(b"2")
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [signal.SIGUSR1]
        mq.receive()
        mq.request_notification(signal.SIGUSR1)
        mq.request_notification()
        mq.send(b"3")
        time.sleep(0.05)
        assert seen == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, old)
    with pytest.raises(ValueError):
        mq.request_notification("no")
    mq.close()


def test_another_process_holding_the_notification_is_busy(made: Callable[..., Any]) -> None:
    mq = made(shim.MessageQueue, posix_name("mq"), shim.O_CREX)
    code = ("import sys, signal, posix_ipc; q = posix_ipc.MessageQueue(sys.argv[1]); "
            "q.request_notification(signal.SIGUSR2); print('ready', flush=True); "
            "sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", code, mq.name], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        with pytest.raises(shim.BusyError) as busy:
            mq.request_notification(signal.SIGUSR1)
        assert busy.value.errno == errno.EBUSY
        mq.request_notification()  # cancelling leaves the other process's request
        with pytest.raises(shim.BusyError):
            mq.request_notification(signal.SIGUSR1)
    finally:
        child.communicate("", timeout=30)
    mq.close()


def test_the_queue_works_with_selectors(made: Callable[..., Any]) -> None:
    mq = made(shim.MessageQueue, posix_name("mq"), shim.O_CREX)
    with selectors.DefaultSelector() as sel:
        sel.register(mq, selectors.EVENT_READ)
        assert sel.select(0) == []
        mq.send(b"ready")
        assert [key.fileobj for key, _ in sel.select(5)] == [mq]
    assert mq.mqd == mq.fileno() >= 0
    assert (mq.max_messages, mq.max_message_size) == (shim.QUEUE_MESSAGES_MAX_DEFAULT,
                                                      shim.QUEUE_MESSAGE_SIZE_MAX_DEFAULT)
    mq.close()


# ---- shared memory -----------------------------------------------------------------


def test_shared_memory_as_posix_ipc_sizes_truncates_and_maps(made: Callable[..., Any]) -> None:
    name = posix_name("shm")
    mem = made(shim.SharedMemory, name, shim.O_CREX, size=3333)
    assert (mem.size, os.fstat(mem.fd).st_size, mem.fileno()) == (3333, 3333, mem.fd)
    with mmap.mmap(mem.fd, mem.size) as m:
        m[:5] = b"hello"
    bigger = shim.SharedMemory(name, size=8192)  # a size given resizes it, new or not
    assert mem.size == 8192
    bigger.close_fd()
    ro = shim.SharedMemory(name, read_only=True)
    with mmap.mmap(ro.fd, 0, prot=mmap.PROT_READ) as m:
        assert m[:5] == b"hello"
    ro.close_fd()
    emptied = shim.SharedMemory(name, shim.O_TRUNC)
    assert emptied.size == mem.size == 0
    emptied.close_fd()
    mem.close_fd()
    mem.close_fd()  # idempotent, as posix_ipc's
    assert mem.fd == -1
    with pytest.raises(shim.ExistentialError):
        mem.size
    for attr in ("name", "mode", "fd", "size"):
        with pytest.raises(AttributeError):
            setattr(mem, attr, 1)


def test_the_descriptor_is_never_closed_behind_the_users_back(
        made: Callable[..., Any]) -> None:
    """As posix_ipc: ``fd`` is the user's (``os.close(mem.fd)`` is
    documented as close_fd), so collecting the object closes nothing, and
    a descriptor number reused after the user closed it is never closed."""
    name = posix_name("shm")
    mem = made(shim.SharedMemory, name, shim.O_CREX, size=64)
    fd = shim.SharedMemory(name).fd
    gc.collect()
    assert os.fstat(fd).st_size == 64
    os.close(fd)
    os.close(mem.fd)
    reused = os.open(os.devnull, os.O_RDONLY)
    try:
        del mem
        gc.collect()
        os.fstat(reused)  # still open
    finally:
        os.close(reused)


def test_a_failed_constructor_unlinks_no_segment_it_did_not_create(
        made: Callable[..., Any]) -> None:
    """posix_ipc shm_unlinks the name when sizing fails, even a segment
    that existed before; the shim removes only what it made."""
    for package in (real, shim):
        name = posix_name("shm")
        made(package.SharedMemory, name, package.O_CREX, size=64).close_fd()
        with pytest.raises(ValueError):
            package.SharedMemory(name, size=128, read_only=True)  # ftruncate: EINVAL
        exists = os.path.exists("/dev/shm" + name)
        assert exists is (package is shim)


def test_an_exclusive_segment_appears_at_its_full_size(made: Callable[..., Any]) -> None:
    name = posix_name("shm")
    mem = made(shim.SharedMemory, name, shim.O_CREX, size=1 << 20)
    st = os.stat("/dev/shm" + name)
    assert st.st_size == 1 << 20 and st.st_blocks * 512 >= 1 << 20  # allocated
    mem.close_fd()


# ---- interop with the real posix_ipc and with unixipc's native classes -------------


def test_real_package_objects_used_by_the_shim_and_native(made: Callable[..., Any]) -> None:
    q = made(real.MessageQueue, posix_name("mq"), real.O_CREX, max_message_size=64)
    s = made(real.Semaphore, posix_name(), real.O_CREX)
    m = made(real.SharedMemory, posix_name("shm"), real.O_CREX, size=64)
    q.send(b"from real", priority=3)
    theirs = shim.MessageQueue(q.name)
    assert theirs.receive() == (b"from real", 3) and theirs.max_message_size == 64
    theirs.close()
    q.send(b"again", priority=4)
    with posix.MessageQueue(q.name) as native_q:
        assert native_q.receive() == posix.Message(b"again", 4)
    shim.Semaphore(s.name).release()
    with posix.Semaphore(s.name) as native_s:
        native_s.release()
    assert s.value == 2
    with mmap.mmap(m.fd, 64) as mapped:
        mapped[:7] = b"shared!"
    other = shim.SharedMemory(m.name)
    with mmap.mmap(other.fd, other.size) as mapped:
        assert mapped[:7] == b"shared!"
    other.close_fd()
    with posix.SharedMemory(m.name) as native_m:
        assert native_m.read(7) == b"shared!"
    q.close()
    s.close()
    m.close_fd()


def test_shim_objects_used_by_the_real_package_and_native(made: Callable[..., Any]) -> None:
    q = made(shim.MessageQueue, posix_name("mq"), shim.O_CREX, max_messages=4)
    s = made(shim.Semaphore, posix_name(), shim.O_CREX, initial_value=2)
    m = made(shim.SharedMemory, posix_name("shm"), shim.O_CREX, size=64)
    q.send("from shim", priority=5)
    theirs = real.MessageQueue(q.name)
    assert theirs.receive() == (b"from shim", 5) and theirs.max_messages == 4
    theirs.close()
    real_sem = real.Semaphore(s.name)
    real_sem.acquire(0)
    real_sem.acquire(0)
    assert s.value == 0
    real_sem.close()
    with posix.Semaphore(s.name) as native_s:
        native_s.release()
    assert s.value == 1
    with mmap.mmap(m.fd, m.size) as mapped:
        mapped[:19] = b"written by the shim"
    other = real.SharedMemory(m.name)
    with mmap.mmap(other.fd, other.size) as mapped:
        assert mapped[:19] == b"written by the shim"
    other.close_fd()
    with posix.SharedMemory(m.name) as native_m:
        assert native_m.read(19) == b"written by the shim"
    with posix.MessageQueue(q.name) as native_q:
        native_q.send(b"native", 1)
    assert q.receive() == (b"native", 1)
    q.close()
    s.close()
    m.close_fd()


def test_the_native_object_behind_a_handle(made: Callable[..., Any]) -> None:
    s = made(shim.Semaphore, posix_name(), shim.O_CREX)
    q = made(shim.MessageQueue, posix_name("mq"), shim.O_CREX)
    assert isinstance(s.native, posix.Semaphore) and s.native.name == s.name
    assert isinstance(q.native, posix.MessageQueue) and q.native.fileno() == q.mqd
    s.close()
    q.close()


def test_the_hot_paths_keep_the_meaning(made: Callable[..., Any]) -> None:
    """send, receive and acquire are closures over the C calls while the
    handle is open and blocking: every other case still answers as the
    class's methods do."""
    mq = made(shim.MessageQueue, posix_name("mq"), shim.O_CREX, max_messages=2,
              max_message_size=4)
    assert "send" in vars(mq) and "receive" in vars(mq)
    mq.send(b"ab")
    mq.send("é", None, 3)
    assert mq.receive() == ("é".encode(), 3) and mq.receive(None) == (b"ab", 0)
    with pytest.raises(ValueError):
        mq.send(b"12345")
    mq.block = False
    assert "send" not in vars(mq)
    with pytest.raises(shim.BusyError):
        mq.receive()
    mq.block = True
    mq.native.close()  # behind the shim's back: still posix_ipc's error
    with pytest.raises(shim.ExistentialError):
        mq.send(b"x")
    with pytest.raises(shim.ExistentialError):
        mq.receive()
    sem = made(shim.Semaphore, posix_name(), shim.O_CREX, initial_value=1)
    sem.acquire()
    sem.release()
    sem.native.close()
    with pytest.raises(shim.ExistentialError):
        sem.acquire()
