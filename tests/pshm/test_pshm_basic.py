"""POSIX shared memory in one process: names, creation, sizes, mappings,
copies, the anonymous (memfd) form and the listing. Between processes:
test_pshm_processes.py; with C and posix_ipc: test_pshm_interop.py; bad
arguments, closed, leaks and pickling: tests/contracts/."""

from __future__ import annotations

import errno
import os
import pickle
import stat

import pytest

from unixipc import posix
from support import posix_name

pytestmark = pytest.mark.timeout(60)


def _path(name: str) -> str:
    return "/dev/shm" + name


# ---- names ---------------------------------------------------------------------

@pytest.mark.parametrize("bad, why", [
    ("frame", "must start with '/'"),
    ("/", "at least one character"),
    ("/a/b", "only its leading '/'"),
    ("//a", "only its leading '/'"),
    ("/..", "may not be"),
    ("/a\0b", "NUL"),
    ("/" + "x" * 256, "at most 255 bytes"),
])
def test_a_bad_name_is_refused_before_any_call(bad, why):
    before = set(os.listdir("/dev/shm"))
    with pytest.raises(ValueError, match=why) as info:
        posix.SharedMemory(bad, 16, create=True)
    assert "shared memory" in str(info.value)
    assert set(os.listdir("/dev/shm")) == before


def test_a_name_that_is_not_a_str_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        posix.SharedMemory(b"/frame", 16, create=True)  # type: ignore[arg-type]


# ---- creating and opening ------------------------------------------------------

def test_exclusive_creates_and_created_is_exact(make_pshm):
    shm = make_pshm(size=4096, exclusive=True)
    assert shm.created is True and shm.size == 4096
    assert os.stat(_path(shm.name)).st_size == 4096
    other = posix.SharedMemory(shm.name)
    try:
        assert other.created is False and other.size == 4096
    finally:
        other.close()
    again = posix.SharedMemory(shm.name, 4096, create=True)
    try:
        assert again.created is False
    finally:
        again.close()


def test_exclusive_on_an_existing_name_is_file_exists_error_naming_it(make_pshm):
    shm = make_pshm(size=16)
    with pytest.raises(FileExistsError) as info:
        posix.SharedMemory(shm.name, 16, exclusive=True)
    assert info.value.filename == shm.name


def test_opening_a_missing_name_is_file_not_found_naming_it():
    name = posix_name("shm")
    with pytest.raises(FileNotFoundError) as info:
        posix.SharedMemory(name)
    assert info.value.filename == name
    assert not os.path.lexists(_path(name))


def test_a_new_segment_is_zero_filled_and_size_zero_is_allowed(make_pshm):
    assert make_pshm(size=1000).read() == bytes(1000)
    empty = make_pshm(size=0)
    assert empty.size == 0 and empty.read() == b""
    with pytest.raises(ValueError, match="0-byte"):
        empty.attach()


def test_an_existing_segment_smaller_than_size_is_einval_naming_both(make_pshm):
    shm = make_pshm(size=100)
    fds = set(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError) as info:
        posix.SharedMemory(shm.name, 4096, create=True)
    assert info.value.errno == errno.EINVAL
    assert "100" in str(info.value) and "4096" in str(info.value)
    assert info.value.filename == shm.name
    assert set(os.listdir("/proc/self/fd")) == fds
    assert shm.size == 100  # untouched


def test_mode_is_0o600_unless_asked(make_pshm):
    old = os.umask(0)
    try:
        default = make_pshm(size=16)
        asked = make_pshm(size=16, mode=0o640)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(_path(default.name)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(_path(asked.name)).st_mode) == 0o640


def test_the_umask_applies_to_the_mode(make_pshm):
    old = os.umask(0o077)
    try:
        shm = make_pshm(size=16, mode=0o666)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(_path(shm.name)).st_mode) == 0o600


# ---- symlinks planted in /dev/shm --------------------------------------------

@pytest.fixture
def planted(tmp_path):
    """A symlink /dev/shm/NAME -> a file of the test's own."""
    target = tmp_path / "target"
    target.write_bytes(b"precious")
    name = posix_name("shm")
    os.symlink(target, _path(name))
    yield name, target
    os.unlink(_path(name))


def test_opening_never_follows_a_symlink(planted):
    name, target = planted
    with pytest.raises(OSError) as info:
        posix.SharedMemory(name)
    assert info.value.errno == errno.ELOOP
    assert "symbolic link" in str(info.value) and info.value.filename == name
    with pytest.raises(OSError) as info:
        posix.SharedMemory(name, 4096, create=True)
    assert info.value.errno == errno.ELOOP
    with pytest.raises(FileExistsError):
        posix.SharedMemory(name, 4096, exclusive=True)
    assert target.read_bytes() == b"precious"
    assert os.path.islink(_path(name))


def test_the_listing_skips_symlinks(planted):
    name, _ = planted
    assert name not in {e.name for e in posix.shared_memory_segments()}


# ---- lifecycle -----------------------------------------------------------------

def test_with_unlinks_only_what_it_created():
    name = posix_name("shm")
    with posix.SharedMemory(name, 64, exclusive=True) as creator:
        with posix.SharedMemory(name) as opener:
            assert opener.created is False
        assert os.path.exists(_path(name))  # the opener's with left it
        assert opener.closed and not creator.closed
    assert creator.closed
    assert not os.path.exists(_path(name))


def test_with_leaves_a_segment_that_took_over_its_name():
    name = posix_name("shm")
    with posix.SharedMemory(name, 64, exclusive=True) as first:
        first.unlink()
        second = posix.SharedMemory(name, 32, exclusive=True)
    try:
        assert os.path.exists(_path(name))  # first's with left second's segment
        assert second.size == 32
    finally:
        second.unlink()
        second.close()


def test_unlink_removes_the_name_and_the_memory_stays_for_holders(make_pshm):
    shm = make_pshm(size=64)
    shm.write(b"kept")
    shm.unlink()
    assert not os.path.exists(_path(shm.name))
    assert shm.read(4) == b"kept"
    with pytest.raises(FileNotFoundError) as info:
        shm.unlink()
    assert info.value.filename == shm.name


def test_a_failed_constructor_leaves_no_name_and_says_why():
    name = posix_name("shm")
    fds = set(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError) as info:  # far more than /dev/shm holds
        posix.SharedMemory(name, 2**50, exclusive=True)
    assert info.value.errno == errno.ENOSPC
    assert "no space" in str(info.value) and "/dev/shm" in str(info.value)
    assert info.value.filename == name
    assert not os.path.lexists(_path(name))
    assert set(os.listdir("/proc/self/fd")) == fds


def test_close_keeps_mappings_whose_views_live(make_pshm):
    shm = make_pshm(size=64)
    view = shm.attach()
    shm.close()
    view[:5] = b"still"  # the mapping is still there
    assert bytes(view[:5]) == b"still"
    view.release()
    with posix.SharedMemory(shm.name) as again:
        assert again.read(5) == b"still"


# ---- size and resize -----------------------------------------------------------

def test_resize_grows_with_zeros_and_shrinks(make_pshm):
    shm = make_pshm(size=10)
    shm.write(b"0123456789")
    shm.resize(20)
    assert shm.size == 20 and shm.read() == b"0123456789" + bytes(10)
    shm.resize(4)
    assert shm.size == 4 and shm.read() == b"0123"


def test_size_is_what_the_kernel_says_now(make_pshm):
    shm = make_pshm(size=10)
    with posix.SharedMemory(shm.name) as other:
        other.resize(30)
    assert shm.size == 30


def test_resize_below_a_live_mapping_is_refused(make_pshm):
    shm = make_pshm(size=8192)
    view = shm.attach()
    with pytest.raises(BufferError, match="cannot shrink .* 8192-byte mapping"):
        shm.resize(100)
    assert shm.size == 8192
    shm.resize(8192 * 2)  # growing is fine
    view.release()
    with pytest.raises(BufferError):  # mapped, even without views
        shm.resize(100)
    shm.detach()
    shm.resize(100)
    assert shm.size == 100


def test_resize_past_the_room_left_is_enospc_and_keeps_the_size(make_pshm):
    shm = make_pshm(size=100)
    with pytest.raises(OSError) as info:
        shm.resize(2**50)
    assert info.value.errno == errno.ENOSPC and info.value.filename == shm.name
    assert shm.size == 100


# ---- mappings ------------------------------------------------------------------

def test_attach_is_writable_and_shares_the_memory(make_pshm):
    shm = make_pshm(size=4096)
    view = shm.attach()
    assert not view.readonly and len(view) == 4096
    view[10:15] = b"hello"
    assert shm.read(5, 10) == b"hello"
    shm.write(b"world", 20)
    assert bytes(view[20:25]) == b"world"
    other = shm.attach()
    assert bytes(other[10:15]) == b"hello"
    view.release()
    other.release()
    shm.detach()


def test_attach_readonly_refuses_writes(make_pshm):
    shm = make_pshm(size=4096)
    shm.write(b"ro")
    view = shm.attach(readonly=True)
    assert view.readonly and bytes(view[:2]) == b"ro"
    with pytest.raises(TypeError):
        view[0:1] = b"x"
    view.release()
    shm.detach()


def test_detach_is_refused_while_views_exist(make_pshm):
    shm = make_pshm(size=4096)
    kept = shm.attach()
    released = shm.attach()
    released.release()
    assert shm.attached
    with pytest.raises(BufferError, match="1 mapping"):
        shm.detach()
    kept[0] = 7  # still mapped
    assert shm.attached
    del kept
    shm.detach()
    assert not shm.attached


def test_a_mapping_keeps_its_length_after_a_grow(make_pshm):
    shm = make_pshm(size=4096)
    view = shm.attach()
    shm.resize(8192)
    assert len(view) == 4096
    view.release()
    with shm.attach() as bigger:
        assert len(bigger) == 8192
    shm.detach()


# ---- read and write --------------------------------------------------------------

def test_read_and_write_at_offsets(make_pshm):
    shm = make_pshm(size=16)
    assert shm.write(b"abc", 13) == 3
    assert shm.read(3, 13) == b"abc"
    assert shm.read(None, 13) == b"abc"
    assert shm.read(0, 16) == b""
    assert shm.write(bytearray(b"xy")) == 2
    assert shm.write(memoryview(b"0123456789")[::2], 4) == 5  # not contiguous
    assert shm.read(9) == b"xy\0\x0002468"


@pytest.mark.parametrize("call, match", [
    (lambda s: s.write(b"abcd", 13), "overrun"),
    (lambda s: s.write(b"a", 17), "past the end"),
    (lambda s: s.write(b"a", -1), "offset"),
    (lambda s: s.read(17), "overrun"),
    (lambda s: s.read(1, 16), "overrun"),
    (lambda s: s.read(-1), "size"),
])
def test_read_and_write_are_bounds_checked_before_any_effect(make_pshm, call, match):
    shm = make_pshm(size=16)
    shm.write(b"0123456789abcdef")
    with pytest.raises(ValueError, match=match):
        call(shm)
    assert shm.read() == b"0123456789abcdef" and shm.size == 16


# ---- anonymous segments (memfd) --------------------------------------------------

def test_anonymous_has_no_name_in_dev_shm():
    before = set(os.listdir("/dev/shm"))
    with posix.SharedMemory.anonymous(4096, name="frame") as shm:
        assert shm.is_anonymous and shm.created and shm.name == "frame"
        assert os.readlink(f"/proc/self/fd/{shm.fileno()}").startswith("/memfd:frame")
        assert set(os.listdir("/dev/shm")) == before
        shm.write(b"anon")
        with shm.attach() as view:
            assert bytes(view[:4]) == b"anon"
        shm.detach()
        shm.resize(8192)
        assert shm.size == 8192
        shm.unlink()  # nothing to remove: does nothing
    assert repr(shm) == "<posix.SharedMemory.anonymous 'frame' closed>"


def test_anonymous_pickles_by_descriptor_within_a_process():
    from multiprocessing import resource_sharer
    shm = posix.SharedMemory.anonymous(64)
    try:
        shm.write(b"same memory")
        copy = pickle.loads(pickle.dumps(shm))
        assert copy.is_anonymous and copy.created is False
        assert copy.fileno() != shm.fileno()
        assert copy.read(11) == b"same memory"
        copy.write(b"SAME", 0)
        copy.close()
        assert shm.read(4) == b"SAME"
    finally:
        shm.close()
        resource_sharer.stop()


def test_from_fd_takes_ownership_of_a_descriptor():
    shm = posix.SharedMemory.anonymous(64, name="given")
    shm.write(b"passed")
    with posix.SharedMemory.from_fd(os.dup(shm.fileno())) as other:
        assert other.is_anonymous and other.name == "given" and other.read(6) == b"passed"
        fd = other.fileno()
    with pytest.raises(OSError):
        os.fstat(fd)  # owned, so closed with it
    shm.close()
    r, w = os.pipe()
    try:
        with pytest.raises(ValueError, match="not a shared memory file"):
            posix.SharedMemory.from_fd(r)
    finally:
        os.close(r)
        os.close(w)


# ---- listing ---------------------------------------------------------------------

def test_the_listing_shows_segments_with_owner_mode_and_size(make_pshm):
    shm = make_pshm(size=12345, mode=0o600)
    sem = posix.Semaphore(posix_name("sem"), exclusive=True)
    try:
        found = {e.name: e for e in posix.shared_memory_segments()}
        entry = found[shm.name]
        assert entry == posix.SharedMemoryEntry(name=shm.name, uid=os.geteuid(),
                                                gid=os.getegid(), mode=0o600, size=12345)
        assert sem.name not in found and "/sem." + sem.name[1:] not in found
    finally:
        sem.unlink()
        sem.close()
    shm.unlink()
    assert shm.name not in {e.name for e in posix.shared_memory_segments()}


def test_repr_names_the_segment(make_pshm):
    shm = make_pshm(size=1)
    assert repr(shm) == f"<posix.SharedMemory {shm.name!r}>"
