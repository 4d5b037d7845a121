"""Named POSIX semaphores in one process: opening, values, lifecycle,
arguments, listing."""

from __future__ import annotations

import errno
import os
import stat
import time

import pytest

from unixipc import posix
from support import Child, posix_name


def test_create_acquire_release_value(make_psem):
    sem = make_psem(initial=2)
    assert sem.created and not sem.closed and sem.value == 2
    sem.acquire()
    sem.acquire(timeout=0)
    assert sem.value == 0
    with pytest.raises(BlockingIOError):
        sem.acquire(block=False)
    with pytest.raises(TimeoutError):
        sem.acquire(timeout=0)
    sem.release()
    assert sem.value == 1


def test_open_existing_keeps_its_value(make_psem):
    sem = make_psem(initial=3)
    other = posix.Semaphore(sem.name, create=True, initial=0)
    try:
        assert not other.created
        assert other.value == 3
        other.acquire()
        assert sem.value == 2
    finally:
        other.close()


def test_open_missing_is_file_not_found_naming_it():
    name = posix_name()
    with pytest.raises(FileNotFoundError) as info:
        posix.Semaphore(name)
    assert info.value.filename == name


def test_exclusive_create_refuses_an_existing_one(make_psem):
    sem = make_psem()
    with pytest.raises(FileExistsError) as info:
        posix.Semaphore(sem.name, exclusive=True)
    assert info.value.filename == sem.name


def test_mode_is_0600_unless_asked(make_psem):
    sem = make_psem()
    st = os.stat("/dev/shm/sem." + sem.name[1:])
    assert stat.S_IMODE(st.st_mode) == 0o600
    old = os.umask(0)
    try:
        wide = make_psem(mode=0o640)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat("/dev/shm/sem." + wide.name[1:]).st_mode) == 0o640


def test_with_unlinks_only_what_it_created():
    name = posix_name()
    with posix.Semaphore(name, create=True, initial=1) as creator:
        with posix.Semaphore(name) as opener:
            assert not opener.created
        assert opener.closed
        assert os.path.exists("/dev/shm/sem." + name[1:])  # the opener did not unlink
        assert creator.value == 1
    assert creator.closed
    assert not os.path.exists("/dev/shm/sem." + name[1:])


def test_held_acquires_and_releases(make_psem):
    sem = make_psem(initial=1)
    with sem.held():
        assert sem.value == 0
    assert sem.value == 1


def test_unlink_keeps_open_handles_working(make_psem):
    sem = make_psem(initial=1)
    sem.unlink()
    with pytest.raises(FileNotFoundError):
        posix.Semaphore(sem.name)
    sem.acquire(timeout=0)
    sem.release()
    with pytest.raises(FileNotFoundError):
        sem.unlink()


def test_closed_semaphore_refuses_use(make_psem):
    sem = make_psem(initial=1)
    sem.close()
    sem.close()
    assert sem.closed
    for call in (sem.acquire, sem.release, lambda: sem.value, sem.held):
        with pytest.raises(ValueError, match="closed"):
            call()


@pytest.mark.parametrize("name, why", [
    ("lock", "start with '/'"),
    ("/", "at least one character"),
    ("", "start with '/'"),
    ("//lock", "only its leading '/'"),
    ("/a/b", "only its leading '/'"),
    ("/a\0b", "NUL"),
    ("/..", "may not be"),
    ("/" + "x" * 252, "NAME_MAX"),
])
def test_bad_names_are_value_errors_saying_why(name, why):
    with pytest.raises(ValueError, match=why):
        posix.Semaphore(name, create=True)
    assert not os.path.exists("/dev/shm/sem." + name[1:].replace("/", "_").replace("\0", ""))


def test_bad_values_before_any_call():
    name = posix_name()
    with pytest.raises(ValueError, match="SEM_VALUE_MAX"):
        posix.Semaphore(name, create=True, initial=posix.SEM_VALUE_MAX + 1)
    with pytest.raises(ValueError):
        posix.Semaphore(name, create=True, initial=-1)
    with pytest.raises(TypeError):
        posix.Semaphore(name, create=True, initial=True)
    with pytest.raises(ValueError):
        posix.Semaphore(name, create=True, mode=0o1000)
    with pytest.raises(TypeError):
        posix.Semaphore(b"/x")  # type: ignore[arg-type]
    assert not os.path.exists("/dev/shm/sem." + name[1:])


def test_largest_value(make_psem):
    sem = make_psem(initial=posix.SEM_VALUE_MAX)
    assert sem.value == posix.SEM_VALUE_MAX
    with pytest.raises(OSError) as info:
        sem.release()
    assert info.value.errno == errno.EOVERFLOW


def test_bad_wait_arguments(make_psem):
    sem = make_psem()
    with pytest.raises(ValueError):
        sem.acquire(timeout=-1)
    with pytest.raises(TypeError):
        sem.acquire(timeout=True)
    with pytest.raises(TypeError):
        sem.acquire(1)  # type: ignore[misc]


def test_listing_shows_name_owner_mode(make_psem):
    sem = make_psem()
    entries = {e.name: e for e in posix.semaphores()}
    entry = entries[sem.name]
    assert (entry.uid, entry.mode) == (os.getuid(), 0o600)
    sem.unlink()
    assert sem.name not in {e.name for e in posix.semaphores()}


def test_unclosed_semaphore_warns(make_psem):
    sem = posix.Semaphore(posix_name(), create=True)
    sem.unlink()
    with pytest.warns(ResourceWarning):
        del sem


def test_close_while_another_thread_waits_lets_the_wait_finish(make_psem):
    import threading

    sem = make_psem()
    waiter = posix.Semaphore(sem.name)
    done = []
    t = threading.Thread(target=lambda: done.append(waiter.acquire(timeout=10)))
    t.start()
    try:
        time.sleep(0.1)
        waiter.close()  # deferred: the waiting call still holds the sem_t
        assert waiter.closed
        sem.release()
    finally:
        t.join(10)
    assert done == [None] and sem.value == 0


def test_a_sem_file_too_short_is_an_error_not_a_sigbus():
    """Anyone may write a ``sem.*`` file in /dev/shm; glibc's sem_open maps
    it as it is, and the first use of a file shorter than a semaphore was
    SIGBUS, killing the process (run in a child, so a crash fails this
    test alone)."""
    name = posix_name("sem")
    path = "/dev/shm/sem." + name[1:]
    with open(path, "wb"):
        pass  # empty: before the fix, SIGBUS at the first use
    try:
        def open_it() -> int:
            try:
                posix.Semaphore(name).value
            except OSError as exc:
                return exc.errno
            return 0
        assert Child(open_it).result() == errno.EINVAL
        with pytest.raises(OSError, match="not a semaphore") as info:
            posix.Semaphore(name, create=True)
        assert info.value.filename == name
    finally:
        os.unlink(path)
