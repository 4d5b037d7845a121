"""ls, rm, stat and msg against objects made by ipcmk and the library."""

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


def test_ls_json_agrees_with_ipcs(any_cli, ipc_tracker):
    made = [ipc_tracker.ipcmk("-Q"), ipc_tracker.ipcmk("-Q", "-p", "0640")]
    r = any_cli("ls", "-q", "--json", "--all-users")
    assert r.status == 0, r.err
    listed = {q["id"]: q for q in json.loads(r.out)["msg"]}
    ipcs = ipcs_queues()
    assert set(made) <= set(listed)
    assert set(listed) == set(ipcs)
    for ident, row in ipcs.items():
        q = listed[ident]
        assert q["key_hex"] == row["key"]
        assert q["perms"] == row["perms"] and q["mode"] == int(row["perms"], 8)
        assert q["message_count"] == int(row["messages"])
        assert q["owner"] == row["owner"]


def test_ls_table_shows_queue(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    r = cli("ls")
    assert r.status == 0
    assert "Message queues" in r.out
    assert any(line.split()[1:2] == [str(ident)] for line in r.out.splitlines())


def test_rm_removes_and_reports_bad_ids(any_cli, ipc_tracker):
    a, b = ipc_tracker.ipcmk("-Q"), ipc_tracker.ipcmk("-Q")
    r = any_cli("rm", "-q", str(a), "999999")
    assert r.status == ExitStatus.ERROR
    assert r.out == f"removed queue {a}\n"
    assert r.err == "unixipc rm: queue 999999 not found (msgctl(IPC_STAT): Invalid argument)\n"
    assert a not in ipcs_queues() and b in ipcs_queues()
    r = any_cli("rm", "-q", "--dry-run", str(b))
    assert r.status == 0 and r.out == f"would remove queue {b}\n"
    assert b in ipcs_queues()
    key = unixipc.MessageQueue.from_id(b).stat().perm.key & 0xffffffff
    r = any_cli("rm", "-q", "--dry-run", "--key", f"0x{key:08x}")
    assert r.status == 0 and r.out == f"would remove queue with key 0x{key:08x} (id {b})\n"
    r = any_cli("rm", "-q", "--key", "0x7fff1234")
    assert r.status == ExitStatus.ERROR
    assert r.err == ("unixipc rm: queue with key 0x7fff1234 not found "
                     "(msgget: No such file or directory)\n")
    assert any_cli("rm", "-q", str(b)).status == 0 and b not in ipcs_queues()


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


def _all_objects() -> set[tuple[str, int]]:
    return {(kind, st.id) for kind, listing in (("q", unixipc.message_queues),
                                                ("s", unixipc.semaphore_sets),
                                                ("m", unixipc.shared_memory_segments))
            for st in listing()}


@pytest.mark.parametrize("kind", ["-q", "-s", "-m"])
def test_private_key_is_refused_without_making_an_object(cli, kind):
    before = _all_objects()
    r = cli("rm", kind, "--key", "0")  # IPC_PRIVATE would make a new object to remove
    assert r.status == ExitStatus.USAGE and "IPC_PRIVATE" in r.err
    assert _all_objects() == before


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
    assert err == (f"unixipc rm: cannot remove queue {ident}: permission denied: only its "
                   "owner, its creator or root may remove it (msgctl(IPC_RMID): Operation not permitted)\n")
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


def test_mq_send_then_recv_binary_roundtrip(any_cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    payload = bytes(range(256))
    assert any_cli("msg", "send", str(ident), "-", "--type", "9", stdin=payload).status == 0
    assert any_cli("msg", "send", str(ident), "--hex", "00ff10").status == 0
    r = any_cli("msg", "recv", str(ident), "--type", "9")
    assert r.status == 0 and r.raw == payload
    r = any_cli("msg", "recv", str(ident), "--hex")
    assert r.out.strip() == "1\t00ff10"
    r = any_cli("msg", "recv", str(ident), "--timeout", "0.1")
    assert r.status == ExitStatus.TIMEOUT and r.err.count("\n") == 1


def test_mq_recv_terminal_text_and_except(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    for t, text in ((2, "two"), (3, "three")):
        assert cli("msg", "send", str(ident), "--type", str(t), text).status == 0
    r = cli("msg", "recv", str(ident), "--type", "2", "--except", tty=True)
    assert r.out == "3\tthree\n"
    r = cli("msg", "recv", str(ident), "--truncate", "1", tty=True)
    assert r.out == "2\tt\n"


def test_mq_as_subprocess_with_pipes(ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    exe = [sys.executable, "-m", "unixipc"]
    subprocess.run(exe + ["msg", "send", str(ident), "-"], input=b"\x00\x01raw", check=True,
                   timeout=60)
    done = subprocess.run(exe + ["msg", "recv", str(ident)], capture_output=True, check=True,
                          timeout=60)
    assert done.stdout == b"\x00\x01raw"


def test_ls_shows_everyones_unless_mine(ipc_tracker):
    from support import NOBODY, Child

    root_q = ipc_tracker.ipcmk("-Q", "-p", "0644")

    def ls_as_nobody(*extra):
        import io

        from unixipc.cli import Environment, main

        mine = unixipc.MessageQueue(create=True, mode=0o644)
        out = io.StringIO()
        try:
            status = main(["ls", "-q", "--json", *extra],
                          Environment(stdout=out, stderr=io.StringIO(), stdout_isatty=False))
        finally:
            mine.remove()
        return status, mine.id, [q["id"] for q in json.loads(out.getvalue())["msg"]]

    status, mine, listed = Child(ls_as_nobody, "--mine", uid=NOBODY).result(timeout=20)
    assert status == 0 and listed == [mine]
    # by default, as ipcs: every object, also another user's (and --all-users says so)
    for extra in ((), ("--all-users",)):
        status, mine, listed = Child(ls_as_nobody, *extra, uid=NOBODY).result(timeout=20)
        assert status == 0 and {mine, root_q} <= set(listed)


def test_ls_table_queue_columns(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-Q")
    assert cli("msg", "send", str(ident), "hello").status == 0
    r = cli("ls", "-q", tty=True)
    header, row = r.out.splitlines()[1:3]
    assert header.split() == ["key", "id", "owner", "perms", "messages", "bytes", "max-bytes",
                              "lspid", "lrpid", "last-send", "last-recv"]
    stat = unixipc.MessageQueue.from_id(ident).stat()
    import time

    sent = time.strftime("%b %d %H:%M:%S", time.localtime(stat.send_time))
    assert row.split()[4:9] == ["1", "5", str(stat.max_bytes), str(os.getpid()), "0"]
    assert row.endswith(f"{sent}  -")


def test_mq_send_by_key_and_recv_count(any_cli, ipc_tracker, tmp_path):
    key = unixipc.ftok(tmp_path, 3)
    mq = unixipc.MessageQueue(key, create=True)
    ipc_tracker.track("msg", mq.id)
    for i in range(3):
        r = any_cli("msg", "send", "--key", f"0x{key & 0xffffffff:08x}", "--type", str(i + 1),
                    f"m{i}")
        assert r.status == 0, r.err
    r = any_cli("msg", "recv", "--key", str(key), "--count", "2", "--hex")
    assert r.status == 0 and r.out == "1\t6d30\n2\t6d31\n"
    r = any_cli("msg", "recv", str(mq.id), "--count", "2", "--timeout", "0.2")
    assert r.status == ExitStatus.TIMEOUT and r.raw == b"m2"
    assert any_cli("msg", "recv", str(mq.id), "--count", "0").status == ExitStatus.USAGE


def test_mq_recv_follow_until_ctrl_c_is_130(ipc_tracker):
    import signal

    from support import wait_blocked

    mq = unixipc.MessageQueue(create=True)
    ipc_tracker.track("msg", mq.id)
    proc = subprocess.Popen([sys.executable, "-m", "unixipc", "msg", "recv", str(mq.id),
                             "--follow", "--hex"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        for i in range(3):
            mq.send(b"\x00" + bytes([i]), type=i + 1)
            assert proc.stdout.readline() == f"{i + 1}\t000{i}\n".encode()
        wait_blocked(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == ExitStatus.INTERRUPTED == 130
    assert out == b"" and err == b"unixipc: interrupted\n"


def test_ctrl_c_in_process_is_130(cli, ipc_tracker):
    import signal
    import threading

    from support import wait_blocked

    ident = ipc_tracker.ipcmk("-Q")
    timer = threading.Thread(target=lambda: (wait_blocked(os.getpid()),
                                             os.kill(os.getpid(), signal.SIGINT)))
    timer.start()
    try:
        r = cli("msg", "recv", str(ident), "--timeout", "30")
    finally:
        timer.join(10)
    assert r.status == 130 and r.err == "unixipc: interrupted\n"
