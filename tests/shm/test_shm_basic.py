"""Shared memory segments between real processes."""

from __future__ import annotations

import errno
import os
import resource
import subprocess

import pytest

import unixipc
from support import NOBODY, Child


def test_new_segment_is_zeroed_and_stat(make_segment):
    shm = make_segment(size=10000)
    assert shm.size == 10000
    assert shm.read() == bytes(10000)
    st = shm.stat()
    assert st.size == 10000 and st.perm.mode == 0o600 and st.creator_pid == os.getpid()
    assert st.attach_count == 1  # read() attached it


def test_parent_writes_child_reads_and_back(make_segment):
    shm = make_segment()
    shm.write(b"from parent")

    def child():
        seen = shm.read(11)
        shm.write(b"from child", offset=100)
        return seen

    assert Child(child).result(timeout=10) == b"from parent"
    assert shm.read(10, offset=100) == b"from child"


def test_view_is_zero_copy_and_numpy_sees_child_writes(make_segment):
    import numpy

    shm = make_segment(size=8 * 1024)
    view = shm.attach()
    array = numpy.frombuffer(view, dtype=numpy.int64)
    assert array.sum() == 0

    def child():
        with unixipc.SharedMemory.from_id(shm.id) as other:
            v = other.attach()
            child_array = numpy.frombuffer(v, dtype=numpy.int64)
            child_array[:] = numpy.arange(len(child_array))
            del child_array
            v.release()
            other.detach()

    Child(child).result(timeout=10)
    assert array[10] == 10 and int(array.sum()) == sum(range(1024))
    del array
    view.release()


def test_readonly_view_rejects_writes(make_segment):
    shm = make_segment()
    view = shm.attach(readonly=True)
    assert view.readonly
    with pytest.raises(TypeError):
        view[0] = 1
    writable = shm.attach()  # a mapping of its own, beside the read-only one
    writable[0] = 1
    assert view[0] == 1
    view.release()
    writable.release()
    shm.detach()


def test_each_attach_is_its_own_mapping_and_read_write_do_not_constrain_it(make_segment):
    shm = make_segment(size=64)
    assert shm.write(b"hello") == 5  # read-write internally
    ro = shm.attach(readonly=True)
    rw = shm.attach()
    assert ro.readonly and not rw.readonly
    assert bytes(ro[:5]) == b"hello"
    rw[:5] = b"HELLO"
    assert shm.read(5) == b"HELLO" and bytes(ro[:5]) == b"HELLO"
    assert shm.stat().attach_count == 3  # write()'s mapping, ro's, rw's
    rw.release()
    with pytest.raises(BufferError):
        shm.detach()  # ro still has a view: it stays, the others go
    assert shm.stat().attach_count == 1 and shm.attached
    assert bytes(ro[:5]) == b"HELLO"
    ro.release()
    shm.detach()
    assert not shm.attached and shm.stat().attach_count == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")
def test_read_only_user_can_read_and_attach_read_only(make_segment):
    shm = make_segment(size=32, mode=0o644)
    shm.write(b"for everyone")

    def as_nobody():
        other = unixipc.SharedMemory.from_id(shm.id)
        seen = other.read(12)
        with other.attach(readonly=True) as view:
            first = bytes(view[:3])
        try:
            other.write(b"x")
        except PermissionError as exc:
            denied = exc.errno
        other.detach()
        return seen, first, denied

    assert Child(as_nobody, uid=NOBODY).result(timeout=10) == (b"for everyone", b"for",
                                                               errno.EACCES)


def test_cannot_detach_while_views_exist(make_segment):
    shm = make_segment()
    view = shm.attach()
    view2 = shm.attach()
    with pytest.raises(BufferError):
        shm.detach()
    view[0] = 7
    view.release()
    with pytest.raises(BufferError):
        shm.detach()
    view2.release()
    shm.detach()
    assert not shm.attached
    assert shm.stat().attach_count == 0


def test_nattch_counts_parent_and_children(make_segment):
    shm = make_segment()
    shm.attach().release()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()

    def child():
        # The parent's attachment is inherited (counted again by fork);
        # attaching anew adds one more.
        other = unixipc.SharedMemory.from_id(shm.id)
        other.attach().release()
        os.write(ready_w, b"x")
        os.read(go_r, 1)

    kids = [Child(child), Child(child)]
    try:
        for _ in kids:
            os.read(ready_r, 1)
        # parent 1 + each child's inherited mapping 1 + each child's own 1
        assert shm.stat().attach_count == 5
    finally:
        os.write(go_w, b"xx")
        for k in kids:
            k.result(timeout=10)
        for fd in (ready_r, ready_w, go_r, go_w):
            os.close(fd)
    assert shm.stat().attach_count == 1


def test_removed_segment_lives_until_last_detach(make_segment):
    shm = make_segment()
    shm.write(b"still here")
    shm.remove()
    st = shm.stat()
    assert st.removed and st.perm.key == 0
    assert shm.read(10) == b"still here"
    shm.detach()
    with pytest.raises(OSError) as info:
        shm.stat()
    assert info.value.errno in (errno.EINVAL, errno.EIDRM)


def test_bounds_are_checked(make_segment):
    shm = make_segment(size=100)
    with pytest.raises(ValueError):
        shm.write(b"x" * 10, offset=95)
    with pytest.raises(ValueError):
        shm.read(10, offset=95)
    with pytest.raises(ValueError):
        shm.read(offset=101)
    with pytest.raises(TypeError):
        shm.write("text")
    with pytest.raises(ValueError):
        shm.read(-1)
    assert shm.read() == bytes(100)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError):
        unixipc.SharedMemory(size=0, create=True)
    with pytest.raises(ValueError):
        unixipc.SharedMemory(size=-1, create=True)
    with pytest.raises(TypeError):
        unixipc.SharedMemory(size="1", create=True)
    with pytest.raises(ValueError, match="size > 0"):
        unixipc.SharedMemory(None)  # a private key always creates: it needs a size


def test_c_peer_sees_python_bytes_and_back(make_segment, cpeer):
    shm = make_segment()
    shm.write(b"python wrote this\0")
    out = subprocess.run([cpeer("shm_peer"), str(shm.id)], capture_output=True, text=True,
                         timeout=10, check=True).stdout
    assert out.strip() == "python wrote this"
    assert shm.read(12, offset=1024) == b"C wrote this"


def test_ipcmk_segment_opens_from_id_and_listing_agrees(make_segment, ipc_tracker):
    ident = ipc_tracker.ipcmk("-M", "8192")
    seg = unixipc.SharedMemory.from_id(ident)
    assert seg.size == 8192
    mine = make_segment(size=5000)
    listed = {s.id: s for s in unixipc.shared_memory_segments()}
    out = subprocess.run(["ipcs", "-m"], capture_output=True, text=True, check=True,
                         timeout=10).stdout
    rows = {int(l.split()[1]): l.split() for l in out.splitlines() if l.startswith("0x")}
    assert set(rows) == set(listed) and {ident, mine.id} <= set(listed)
    for i, row in rows.items():
        assert listed[i].size == int(row[4])
        assert listed[i].attach_count == int(row[5])


def test_lock_and_unlock(make_segment, ipc_tracker):
    shm = make_segment()
    if os.geteuid() == 0:          # CAP_IPC_LOCK: always allowed
        shm.lock()
        assert shm.stat().locked
        shm.unlock()
        assert not shm.stat().locked

    def as_nobody():
        out = {}
        try:
            shm.lock()             # not the owner, no CAP_IPC_LOCK
        except PermissionError as exc:
            out["not owner"] = exc.errno
        own = unixipc.SharedMemory(size=4096, create=True)
        out["id"] = own.id
        soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        if soft == resource.RLIM_INFINITY or soft >= 4096:
            own.lock()             # the owner, within RLIMIT_MEMLOCK
            out["locked"] = own.stat().locked
            own.unlock()
            out["unlocked"] = not own.stat().locked
        big = unixipc.SharedMemory(size=1 << 16, create=True)
        out["big"] = big.id
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (4096, hard))
        try:
            big.lock()             # the owner, but more than RLIMIT_MEMLOCK allows
        except OSError as exc:
            out["over rlimit"] = exc.errno
        big.remove()
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, hard))
        try:
            own.lock()             # the owner, but RLIMIT_MEMLOCK is 0
        except PermissionError as exc:
            out["no rlimit"] = exc.errno
        own.remove()
        return out

    out = Child(as_nobody, uid=NOBODY).result(timeout=10)
    ipc_tracker.track("shm", out.pop("id"))
    ipc_tracker.track("shm", out.pop("big"))
    expected = {"not owner": errno.EPERM, "no rlimit": errno.EPERM,
                "over rlimit": errno.ENOMEM}
    if "locked" in out:
        expected.update(locked=True, unlocked=True)
    assert out == expected


def test_numpy_array_keeps_the_segment_attached(make_segment):
    import numpy

    shm = make_segment(size=800)
    view = shm.attach()
    array = numpy.frombuffer(view, dtype=numpy.int64)
    view.release()               # the array still holds its own export
    with pytest.raises(BufferError):
        shm.detach()
    array[3] = 42
    del array
    shm.detach()
    assert shm.read(8, offset=24) == (42).to_bytes(8, "little")


def test_write_through_a_readonly_attachment_is_a_type_error(make_segment):
    shm = make_segment(size=64)
    view = shm.attach(readonly=True)
    with pytest.raises(TypeError):
        view[:2] = b"no"
    assert shm.write(b"ok") == 2  # write() has a mapping of its own
    assert bytes(view[:2]) == b"ok"
    view.release()


def test_opening_with_a_larger_size_than_the_segment(make_segment, tmp_path):
    key = unixipc.ftok(tmp_path, 3)
    make_segment(key, size=4096)
    with pytest.raises(OSError) as info:
        unixipc.SharedMemory(key, 8192)
    assert info.value.errno == errno.EINVAL
    assert unixipc.SharedMemory(key, 100).size == 4096
    with pytest.raises(FileExistsError):
        unixipc.SharedMemory(key, 4096, create=True, exclusive=True)
    with pytest.raises(FileNotFoundError):
        unixipc.SharedMemory(unixipc.ftok(tmp_path, 4), 4096)


def test_stat_fields_follow_attach_and_detach(make_segment):
    shm = make_segment(size=100)
    st0 = shm.stat()
    assert st0.attach_time == 0 and st0.detach_time == 0 and st0.attach_count == 0
    assert st0.change_time > 0 and st0.last_pid == 0 and not st0.removed

    def child():
        shm.read(1)            # attaches in the child
        return os.getpid()

    pid = Child(child).result(timeout=10)
    st = shm.stat()
    assert st.last_pid == pid and st.attach_time > 0 and st.detach_time > 0
    assert st.creator_pid == os.getpid() and st.attach_count == 0


def test_other_user_denied(make_segment):
    shm = make_segment(mode=0o600)

    def as_nobody():
        out = {}
        try:
            unixipc.SharedMemory.from_id(shm.id).attach()
        except PermissionError as exc:
            out["attach"] = exc.errno
        return out

    assert Child(as_nobody, uid=NOBODY).result(timeout=10) == {"attach": errno.EACCES}
    shm.set(mode=0o640)
    assert shm.stat().perm.mode == 0o640


def test_usage_matches_ipcs_u_and_counts_pages(make_segment):
    """shared_memory_usage() is SHM_INFO, as ipcs -u prints it: whole pages
    per segment, resident ones once touched."""
    from support import ipcs_u

    page = os.sysconf("SC_PAGESIZE")
    before = unixipc.shared_memory_usage()
    make_segment(size=page + 1)                 # 2 pages, none touched
    touched = make_segment(size=3 * page)
    touched.write(b"x" * (3 * page))            # 3 pages, all resident
    used = unixipc.shared_memory_usage()
    theirs = ipcs_u()
    assert (used.segments, used.pages, used.resident_pages, used.swapped_pages) == (
        theirs["segments allocated"][0], theirs["pages allocated"][0],
        theirs["pages resident"][0], theirs["pages swapped"][0])
    assert [used.swap_attempts, used.swap_successes] == theirs["Swap performance:"]
    assert used.segments == before.segments + 2
    assert used.pages == before.pages + 5
    assert used.resident_pages >= before.resident_pages + 3
    assert used.pages <= unixipc.shared_memory_limits().max_total_pages
