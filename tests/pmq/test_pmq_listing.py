"""posix.message_queues(): the listing needs an mqueue mount, so it runs in
a child with its own IPC and mount namespaces (unshare --ipc --mount) that
mounts one on a temporary directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from unixipc import posix

_SCRIPT = textwrap.dedent("""
    import json, os, subprocess, sys
    from unixipc import posix
    subprocess.run(["mount", "-t", "mqueue", "none", sys.argv[1]], check=True)
    a = posix.MessageQueue("/list-a", create=True, mode=0o640, max_messages=3,
                           max_message_size=16)
    b = posix.MessageQueue("/list-b", create=True)
    a.send(b"12345")
    a.send(b"678")
    out = [[e.name, e.uid, e.gid, e.mode, e.size, e.current_messages]
           for e in posix.message_queues()]
    a.close(); a.unlink(); b.close(); b.unlink()
    out.append(len(posix.message_queues()))
    print(json.dumps(out))
""")


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_message_queues_lists_owner_mode_size_and_count(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting an mqueue filesystem needs root")
    mnt = tmp_path / "mq"
    mnt.mkdir()
    proc = subprocess.run(["unshare", "--ipc", "--mount", sys.executable, "-c", _SCRIPT,
                           str(mnt)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    *entries, left = json.loads(proc.stdout)
    uid, gid = os.getuid(), os.getgid()
    assert entries[0][:4] == ["/list-a", uid, gid, 0o640 & ~_umask()]
    assert entries[0][4] >= 8 and entries[0][5] == 2
    assert entries[1][0] == "/list-b" and entries[1][5] == 0
    assert left == 0


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_without_an_mqueue_mount_the_listing_says_so():
    with open("/proc/self/mounts") as f:
        if any(line.split()[2] == "mqueue" for line in f):
            pytest.skip("an mqueue filesystem is mounted here")
    with pytest.raises(FileNotFoundError, match="mount -t mqueue"):
        posix.message_queues()
