"""ls, rm, stat and mq against objects made by ipcmk and the library."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import unixipc
from unixipc.cli import ExitStatus


def ipcs_queues() -> dict[int, dict[str, str]]:
    out = subprocess.run(["ipcs", "-q"], capture_output=True, text=True, check=True,
                         timeout=10).stdout
    rows = {}
    for line in out.splitlines():
        if line.startswith("0x"):
            key, msqid, owner, perms, used, messages = line.split()[:6]
            rows[int(msqid)] = {"key": key, "owner": owner, "perms": perms,
                                "messages": messages}
    return rows


def test_ls_json_agrees_with_ipcs(cli, ipc_tracker):
    made = [ipc_tracker.ipcmk("-Q"), ipc_tracker.ipcmk("-Q", "-p", "0640")]
    r = cli("ls", "-q", "--json", "--all-users")
    assert r.status == 0, r.err
    listed = {q["id"]: q for q in json.loads(r.out)["msg"]}
    ipcs = ipcs_queues()
    assert set(made) <= set(listed)
    assert set(listed) == set(ipcs)
    for ident, row in ipcs.items():
        q = listed[ident]
        assert q["perm"]["key"] == row["key"]
        assert q["perm"]["mode"] == row["perms"]
        assert str(q["message_count"]) == row["messages"]
        import pwd

        assert pwd.getpwuid(q["perm"]["uid"]).pw_name == row["owner"]


def test_ls_table_shows_queue(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    r = cli("ls")
    assert r.status == 0
    assert "Message queues" in r.out
    assert any(line.split()[1:2] == [str(ident)] for line in r.out.splitlines())


def test_rm_removes_and_reports_bad_ids(cli, ipc_tracker):
    a, b = ipc_tracker.ipcmk("-Q"), ipc_tracker.ipcmk("-Q")
    r = cli("rm", "-q", str(a), "999999")
    assert r.status == ExitStatus.ERROR
    assert f"removed queue {a}" in r.out
    assert "cannot remove queue 999999" in r.err
    assert a not in ipcs_queues() and b in ipcs_queues()
    r = cli("rm", "-q", "--dry-run", str(b))
    assert r.status == 0 and "would remove" in r.out and b in ipcs_queues()


def test_rm_by_key(cli, ipc_tracker, tmp_path):
    key = unixipc.ftok(tmp_path, 5)
    mq = unixipc.MessageQueue(key, create=True)
    ipc_tracker.track("msg", mq.id)
    r = cli("rm", "-q", "--key", f"0x{key & 0xffffffff:08x}")
    assert r.status == 0, r.err
    assert mq.id not in ipcs_queues()


def test_rm_usage_errors(cli):
    assert cli("rm", "-q").status == ExitStatus.USAGE
    assert cli("rm", "5").status == ExitStatus.USAGE


def test_rm_permission_denied_is_one_line(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q", "-p", "0666")

    def as_nobody():
        import io

        from unixipc.cli import Environment, main

        err = io.StringIO()
        status = main(["rm", "-q", str(ident)],
                      Environment(stdout=io.StringIO(), stderr=err, stdout_isatty=False))
        return status, err.getvalue()

    from support import NOBODY, Child

    status, err = Child(as_nobody, uid=NOBODY).result(timeout=20)
    assert status == ExitStatus.ERROR
    assert "Operation not permitted" in err and err.count("\n") == 1
    assert ident in ipcs_queues()


def test_stat_shows_every_field(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    r = cli("stat", "-q", str(ident))
    assert r.status == 0
    for name in ("key", "owner", "mode", "message count", "max bytes", "change time",
                 "last send pid"):
        assert name in r.out
    data = json.loads(cli("stat", "-q", str(ident), "--json").out)
    assert data["id"] == ident and data["send_time"] is None
    assert "T" in data["change_time"]
    assert cli("stat", "-q", "999999").status == ExitStatus.ERROR


def test_mq_send_then_recv_binary_roundtrip(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    payload = bytes(range(256))
    assert cli("mq", "send", str(ident), "-", "--type", "9", stdin=payload).status == 0
    assert cli("mq", "send", str(ident), "--hex", "00ff10").status == 0
    r = cli("mq", "recv", str(ident), "--type", "9")
    assert r.status == 0 and r.raw == payload
    r = cli("mq", "recv", str(ident), "--hex")
    assert r.out.strip() == "1\t00ff10"
    r = cli("mq", "recv", str(ident), "--timeout", "0.1")
    assert r.status == ExitStatus.TIMEOUT


def test_mq_recv_terminal_text_and_except(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    for t, text in ((2, "two"), (3, "three")):
        assert cli("mq", "send", str(ident), "--type", str(t), text).status == 0
    r = cli("mq", "recv", str(ident), "--type", "2", "--except", tty=True)
    assert r.out == "3\tthree\n"
    r = cli("mq", "recv", str(ident), "--truncate", "1", tty=True)
    assert r.out == "2\tt\n"


def test_mq_as_subprocess_with_pipes(ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    exe = [sys.executable, "-m", "unixipc"]
    subprocess.run(exe + ["mq", "send", str(ident), "-"], input=b"\x00\x01raw", check=True,
                   timeout=60)
    done = subprocess.run(exe + ["mq", "recv", str(ident)], capture_output=True, check=True,
                          timeout=60)
    assert done.stdout == b"\x00\x01raw"
