"""POSIX shared memory between real processes: forked children, racing
creators, permissions as another user, SCM_RIGHTS, and a full /dev/shm
(pickling into fork/spawn/forkserver children: tests/contracts/test_pickling.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from unixipc import posix
from support import NOBODY, Child, posix_name

pytestmark = pytest.mark.timeout(120)


def _write_by_name(name: str, offset: int, data: bytes) -> bytes:
    with posix.SharedMemory(name) as shm:
        seen = shm.read(5)
        with shm.attach() as view:
            view[offset:offset + len(data)] = data
        shm.detach()
        return seen


def test_a_child_sees_the_parents_bytes_and_the_parent_sees_the_childs(make_pshm):
    shm = make_pshm(size=4096)
    view = shm.attach()
    view[:5] = b"hello"
    child = Child(_write_by_name, shm.name, 2000, b"from the child")
    try:
        assert child.result() == b"hello"
    finally:
        child.close()
    assert bytes(view[2000:2014]) == b"from the child"  # through the parent's own mapping
    view.release()
    shm.detach()


def test_an_anonymous_segment_is_shared_with_a_fork_child():
    with posix.SharedMemory.anonymous(4096, name="forked") as shm:
        view = shm.attach()

        def child_writes() -> int:
            view[100:105] = b"child"  # the inherited mapping
            shm.write(b"pwrite", 200)
            return shm.size

        child = Child(child_writes)
        try:
            assert child.result() == 4096
        finally:
            child.close()
        assert bytes(view[100:105]) == b"child" and shm.read(6, 200) == b"pwrite"
        view.release()


def _create_when_told(go: int, name: str, size: int) -> tuple[bool, int]:
    os.read(go, 1)
    with posix.SharedMemory(name, size, create=True) as shm:
        return shm.created, shm.size


@pytest.mark.parametrize("round_", range(4))
def test_of_racing_creators_exactly_one_creates_and_none_sees_it_half_made(round_):
    name = posix_name("race")
    size = 4 << 20
    r, w = os.pipe()
    children = [Child(_create_when_told, r, name, size) for _ in range(6)]
    try:
        os.write(w, b"x" * len(children))
        results = [c.result(timeout=60) for c in children]
    finally:
        for c in children:
            c.close()
        os.close(r)
        os.close(w)
    # the creator's with block may have unlinked it before the last opener
    # came: that one then created it anew. Every opener saw the full size.
    assert all(size_seen == size for _, size_seen in results), results
    assert sum(created for created, _ in results) >= 1
    assert not os.path.lexists("/dev/shm" + name)


def _open_as_soon_as_it_exists(name: str) -> list[int]:
    sizes = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(sizes) < 50:
        try:
            shm = posix.SharedMemory(name)
        except FileNotFoundError:
            continue
        sizes.append(shm.size)
        shm.close()
    return sizes


def test_an_opener_never_sees_a_new_segment_before_it_has_its_size():
    name = posix_name("race")
    size = 16 << 20  # large enough that allocating it takes a while
    openers = [Child(_open_as_soon_as_it_exists, name) for _ in range(2)]
    try:
        time.sleep(0.2)  # the openers are spinning on FileNotFoundError
        shm = posix.SharedMemory(name, size, exclusive=True)
        try:
            seen = [s for c in openers for s in c.result(timeout=60)]
        finally:
            shm.unlink()
            shm.close()
    finally:
        for c in openers:
            c.close()
    assert seen and set(seen) == {size}


def _open_as(name: str) -> None:
    posix.SharedMemory(name)


def _create_as(name: str) -> None:
    posix.SharedMemory(name, 16, create=True)


@pytest.mark.parametrize("how", [_open_as, _create_as])
def test_another_user_gets_permission_error_naming_the_segment(make_pshm, how):
    shm = make_pshm(size=16)  # 0o600, ours
    child = Child(how, shm.name, uid=NOBODY)
    try:
        with pytest.raises(PermissionError) as info:
            child.result()
    finally:
        child.close()
    assert info.value.filename == shm.name


def test_a_segment_made_by_another_user_is_listed_as_theirs():
    name = posix_name("shm")

    def make_as_nobody() -> None:
        posix.SharedMemory(name, 300, exclusive=True, mode=0o644).close()

    child = Child(make_as_nobody, uid=NOBODY)
    try:
        child.result()
        entry = {e.name: e for e in posix.shared_memory_segments()}[name]
        assert (entry.uid, entry.gid, entry.mode, entry.size) == (NOBODY, NOBODY, 0o644, 300)
    finally:
        child.close()
        os.unlink("/dev/shm" + name)


def test_an_anonymous_segment_travels_over_scm_rights():
    ours, theirs = socket.socketpair(socket.AF_UNIX)

    def receive_and_write() -> bytes:
        ours.close()
        _, fds, _, _ = socket.recv_fds(theirs, 16, 1)
        with posix.SharedMemory.from_fd(fds[0]) as shm:
            shm.write(b"over the socket", 10)
            return shm.read(4)

    child = Child(receive_and_write)
    theirs.close()
    try:
        with posix.SharedMemory.anonymous(64, name="sent") as shm:
            shm.write(b"mine")
            socket.send_fds(ours, [b"x"], [shm.fileno()])
            assert child.result() == b"mine"
            assert shm.read(15, 10) == b"over the socket"
    finally:
        child.close()
        ours.close()


_FULL_SCRIPT = textwrap.dedent("""
    import errno, os
    from unixipc import posix
    try:
        posix.SharedMemory("/big", 4 << 20, exclusive=True)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
        message = str(e)
    else:
        raise SystemExit("a 4 MiB segment in a 1 MiB /dev/shm was made")
    assert os.listdir("/dev/shm") == [], os.listdir("/dev/shm")
    with posix.SharedMemory("/small", 512 << 10, exclusive=True) as shm:
        try:
            shm.resize(2 << 20)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        else:
            raise SystemExit("resize past the room left worked")
        assert shm.size == 512 << 10
        view = shm.attach()
        view[:] = b"x" * len(view)  # every page is there: no SIGBUS
        view.release()
        shm.detach()
    assert os.listdir("/dev/shm") == [], os.listdir("/dev/shm")
    # Opening an existing segment allocates nothing: with 700 KiB of the
    # 1 MiB taken, create=True of the same name opens it, and exclusive=True
    # is FileExistsError, not ENOSPC.
    with posix.SharedMemory("/most", 700 << 10, exclusive=True) as shm:
        with posix.SharedMemory("/most", 700 << 10, create=True) as again:
            assert not again.created and again.size == 700 << 10
        try:
            posix.SharedMemory("/most", 700 << 10, exclusive=True)
        except FileExistsError:
            pass
    assert os.listdir("/dev/shm") == [], os.listdir("/dev/shm")
    print(message)
""")


def test_a_full_dev_shm_is_an_error_at_creation_not_sigbus_later():
    """In a mount namespace of its own, a child mounts a 1 MiB tmpfs on
    /dev/shm: a bigger segment is ENOSPC at creation, leaves no name, and a
    resize past the room left fails keeping the size."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private tmpfs on /dev/shm")
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
           'mount -t tmpfs -o size=1m unixipc-test /dev/shm && exec "$0" -c "$1"',
           sys.executable, _FULL_SCRIPT]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if out.returncode != 0 and "mount" in out.stderr and "unixipc" not in out.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    assert "no space" in out.stdout and "/dev/shm" in out.stdout and "4194304" in out.stdout


_NO_PROC_SCRIPT = textwrap.dedent("""
    import errno, os, sys
    from unixipc import posix
    name = sys.argv[1]
    assert not os.path.isdir("/proc/self/fd")  # so the fallback is taken
    try:
        posix.SharedMemory(name, 2**50, exclusive=True)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    else:
        raise SystemExit("a 1 PiB segment was made")
    assert not os.path.lexists("/dev/shm" + name)  # the failed sizing unlinked it
    with posix.SharedMemory(name, 5000, create=True) as shm:
        assert shm.created and shm.size == 5000 and shm.read() == bytes(5000)
        try:
            posix.SharedMemory(name, exclusive=True)
        except FileExistsError:
            pass
        else:
            raise SystemExit("exclusive on an existing name worked")
    assert not os.path.lexists("/dev/shm" + name)
    sys.stdout.flush()
    os._exit(0)  # no exit hooks: the asan leg's at-exit leak check needs /proc
""")


def test_without_proc_the_shm_open_fallback_makes_segments_and_cleans_up():
    """With /proc hidden (a tmpfs over it in a mount namespace of its own),
    creation takes shm_open(O_CREAT|O_EXCL) + ftruncate, and a failed
    sizing leaves no name."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to hide /proc")
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
           'mount -t tmpfs unixipc-test /proc && exec "$0" -c "$1" "$2"',
           sys.executable, _NO_PROC_SCRIPT, posix_name("noproc")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if out.returncode != 0 and "mount" in out.stderr and "unixipc" not in out.stderr:
        pytest.skip(f"cannot mount over /proc here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
