"""ftok, key normalisation and the errno table."""

from __future__ import annotations

import errno
import subprocess

import pytest

import unixipc
from unixipc import keys


@pytest.mark.parametrize("proj_id", [1, 65, 127, 128, 200, 255])
def test_ftok_equals_c_library(cpeer, tmp_path, proj_id):
    path = tmp_path / "anchor"
    path.write_bytes(b"")
    c_value = int(subprocess.run([cpeer("ftok"), str(path), str(proj_id)],
                                 capture_output=True, text=True, check=True, timeout=10).stdout)
    assert unixipc.ftok(path, proj_id) == c_value
    assert unixipc.ftok(str(path).encode(), proj_id) == c_value


def test_ftok_missing_file_keeps_errno(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        unixipc.ftok(tmp_path / "missing", 1)
    assert info.value.errno == errno.ENOENT
    assert "ftok" in str(info.value)


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (256, ValueError), (-1, ValueError),
                                      ("1", TypeError), (1.0, TypeError), (True, TypeError)])
def test_ftok_rejects_bad_proj_id(tmp_path, bad, exc):
    with pytest.raises(exc):
        unixipc.ftok(tmp_path, bad)


def test_ftok_rejects_non_path():
    with pytest.raises(TypeError):
        unixipc.ftok(3.5, 1)  # type: ignore[arg-type]


def test_normalize_key_accepts_both_views():
    assert keys.normalize_key(None) == unixipc.IPC_PRIVATE == 0
    assert keys.normalize_key(0xDEADBEEF) == 0xDEADBEEF - 2**32
    assert keys.normalize_key(-1) == -1
    assert keys.format_key(-1) == "0xffffffff"
    with pytest.raises(ValueError):
        keys.normalize_key(2**32)
    with pytest.raises(TypeError):
        keys.normalize_key("1")  # type: ignore[arg-type]


def test_permissions_is_frozen():
    p = unixipc.Permissions(key=1, uid=0, gid=0, cuid=0, cgid=0, mode=0o600, seq=0)
    with pytest.raises(AttributeError):
        p.mode = 0o666  # type: ignore[misc]
