"""Interop: a C program of the tests' own (shm_open + mmap) and posix_ipc
(installed by the test extras only) share segments with unixipc, bytes
exact."""

from __future__ import annotations

import mmap
import subprocess

import pytest

from unixipc import posix
from support import posix_name

pytestmark = pytest.mark.timeout(120)


def test_a_c_program_reads_what_python_wrote_and_writes_back(cpeer, make_pshm):
    exe = cpeer("pshm_peer")
    shm = make_pshm(size=4096)
    shm.write(b"Python wrote this\0")
    out = subprocess.run([exe, shm.name, "read"], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"Python wrote this\n"
    assert shm.read(13, 1024) == b"C wrote this\0"
    with shm.attach(readonly=True) as view:
        assert bytes(view[1024:1036]) == b"C wrote this"
    shm.detach()


def test_python_opens_a_segment_a_c_program_made(cpeer):
    exe = cpeer("pshm_peer")
    name = posix_name("shm")
    out = subprocess.run([exe, name, "create", "70000"], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    with posix.SharedMemory(name) as shm:
        try:
            assert shm.created is False and shm.size == 70000
            assert shm.read() == bytes(i % 251 for i in range(70000))
        finally:
            shm.unlink()


posix_ipc = pytest.importorskip("posix_ipc")


def test_a_posix_ipc_segment_is_opened_by_unixipc():
    name = posix_name("pipc")
    theirs = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=8192)
    try:
        with mmap.mmap(theirs.fd, theirs.size) as m:
            m[:15] = b"from posix_ipc!"
        with posix.SharedMemory(name) as ours:
            assert ours.size == 8192 and ours.read(15) == b"from posix_ipc!"
            ours.write(b"from unixipc", 100)
        with mmap.mmap(theirs.fd, theirs.size) as m:
            assert m[100:112] == b"from unixipc"
    finally:
        theirs.close_fd()
        theirs.unlink()


def test_a_unixipc_segment_is_opened_by_posix_ipc(make_pshm):
    ours = make_pshm(size=5000, mode=0o640)
    ours.write(b"\x00\x01\xfe\xff" * 10)
    theirs = posix_ipc.SharedMemory(ours.name)
    try:
        assert theirs.size == 5000
        with mmap.mmap(theirs.fd, theirs.size) as m:
            assert m[:40] == b"\x00\x01\xfe\xff" * 10
            m[4000:4004] = b"back"
    finally:
        theirs.close_fd()
    assert ours.read(4, 4000) == b"back"
    ours.unlink()
    with pytest.raises(posix_ipc.ExistentialError):
        posix_ipc.SharedMemory(ours.name)
