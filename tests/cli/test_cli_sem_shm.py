"""ls/stat/rm over semaphore sets and segments; sem get/set/op; shm dump."""

from __future__ import annotations

import json
import subprocess

import unixipc
from unixipc.cli import ExitStatus


def ipcs_rows(flag: str) -> dict[int, list[str]]:
    out = subprocess.run(["ipcs", flag], capture_output=True, text=True, check=True,
                         timeout=10).stdout
    return {int(l.split()[1]): l.split() for l in out.splitlines() if l.startswith("0x")}


def test_ls_json_all_kinds_agree_with_ipcs(any_cli, ipc_tracker):
    import pwd

    sem = ipc_tracker.ipcmk("-S", "3")
    shm = ipc_tracker.ipcmk("-M", "4096", "-p", "0640")
    mq = ipc_tracker.ipcmk("-Q")
    data = json.loads(any_cli("ls", "--json", "--all-users").out)
    assert set(data) == {"msg", "sem", "shm"}
    listed = {kind: {x["id"]: x for x in data[kind]} for kind in data}
    for kind, flag in (("msg", "-q"), ("sem", "-s"), ("shm", "-m")):
        rows = ipcs_rows(flag)
        assert set(rows) == set(listed[kind]), kind
        for ident, row in rows.items():
            obj = listed[kind][ident]
            assert obj["key_hex"] == row[0] and obj["key"] & 0xffffffff == int(row[0], 16)
            assert obj["owner"] == row[2] == pwd.getpwuid(obj["uid"]).pw_name, kind
            assert obj["perms"] == row[3].lstrip("0") and obj["mode"] == int(row[3], 8), kind
            assert obj["kind"] == kind
    for ident, row in ipcs_rows("-s").items():
        assert listed["sem"][ident]["count"] == int(row[4])
    for ident, row in ipcs_rows("-m").items():
        assert listed["shm"][ident]["size"] == int(row[4])
        assert listed["shm"][ident]["attach_count"] == int(row[5])
    assert sem in listed["sem"] and shm in listed["shm"] and mq in listed["msg"]
    # -q, -s, -m choose kinds and combine, as in ipcs
    assert set(json.loads(any_cli("ls", "-m", "--json").out)) == {"shm"}
    assert set(json.loads(any_cli("ls", "-q", "-s", "--json").out)) == {"msg", "sem"}


def test_ls_table_for_sets_and_segments(cli, ipc_tracker):
    sem = ipc_tracker.ipcmk("-S", "2")
    shm = ipc_tracker.ipcmk("-M", "128")
    unixipc.SemaphoreSet.from_id(sem).values = [3, 7]
    seg = unixipc.SharedMemory.from_id(shm)
    seg.attach()
    try:
        out = cli("ls", "-s", "-m").out.splitlines()
    finally:
        seg.detach()
    assert out[0] == "Shared memory segments" and out[1].split() == [
        "key", "id", "owner", "perms", "bytes", "nattch", "cpid", "lpid", "status"]
    row = next(line.split() for line in out if line.split()[1:2] == [str(shm)])
    creator = unixipc.SharedMemory.from_id(shm).stat().creator_pid
    assert row[4:7] == ["128", "1", str(creator)]
    at = out.index("Semaphore sets")
    assert out[at + 1].split() == ["key", "id", "owner", "perms", "nsems", "values"]
    row = next(line.split() for line in out[at:] if line.split()[1:2] == [str(sem)])
    assert row[4:] == ["2", "3,7"]


def test_stat_every_field_of_every_kind(cli, ipc_tracker):
    import dataclasses
    import datetime

    made = {"msg": ("-q", ipc_tracker.ipcmk("-Q")), "sem": ("-s", ipc_tracker.ipcmk("-S", "2")),
            "shm": ("-m", ipc_tracker.ipcmk("-M", "100"))}
    opener = {"msg": unixipc.MessageQueue, "sem": unixipc.SemaphoreSet,
              "shm": unixipc.SharedMemory}
    for kind, (flag, ident) in made.items():
        stat = opener[kind].from_id(ident).stat()
        text = cli("stat", flag, str(ident)).out
        lines = dict(line.strip().split("  ", 1) for line in text.splitlines())
        lines = {k: v.strip() for k, v in lines.items()}
        for f in dataclasses.fields(stat):
            if f.name not in ("id", "perm"):
                assert f.name.replace("_", " ") in lines, (kind, f.name)
        for name in ("key", "owner", "creator", "mode", "seq"):
            assert name in lines, (kind, name)
        assert lines["change time"] == datetime.datetime.fromtimestamp(
            stat.change_time).strftime("%Y-%m-%d %H:%M:%S")
        data = json.loads(cli("stat", flag, str(ident), "--json").out)
        common = {"kind", "id", "key", "key_hex", "owner", "uid", "gid", "creator", "cuid",
                  "cgid", "mode", "perms", "seq"}
        assert set(data) == (common | {f.name for f in dataclasses.fields(stat)} - {"perm"}
                             | ({"values"} if kind == "sem" else set()))
        assert isinstance(data["key"], int) and isinstance(data["mode"], int)
        for name, value in data.items():
            if name.endswith("_time"):
                raw = getattr(stat, name)
                if raw:
                    parsed = datetime.datetime.fromisoformat(value)
                    assert parsed.tzinfo is not None and parsed.timestamp() == raw
                else:
                    assert value is None and lines[name.replace("_", " ")] == "never"


def test_sem_set_get_op(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-S", "3")
    assert cli("sem", "set", str(ident), "1", "0", "2").status == 0
    assert unixipc.SemaphoreSet.from_id(ident).values == [1, 0, 2]
    r = cli("sem", "op", str(ident), "0:-1", "1:-1", "--no-wait")
    # --no-wait that would wait: the same status as a --timeout running out
    assert r.status == ExitStatus.TIMEOUT and "Resource temporarily unavailable" in r.err
    assert cli("sem", "set", str(ident), "1=4").status == 0
    assert cli("sem", "op", str(ident), "0:-1", "1:-1").status == 0
    got = json.loads(cli("sem", "get", str(ident), "--json").out)
    assert [g["value"] for g in got] == [0, 3, 2]
    assert cli("sem", "op", str(ident), "0:-1", "--timeout", "0.1").status == ExitStatus.TIMEOUT
    assert cli("sem", "set", str(ident), "40000", "0", "0").status == ExitStatus.USAGE
    assert cli("sem", "op", str(ident), "nonsense").status == ExitStatus.USAGE


def test_shm_dump_raw_and_hex(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-M", "64")
    seg = unixipc.SharedMemory.from_id(ident)
    seg.write(b"hello\x00\xff", offset=8)
    seg.detach()
    r = cli("shm", "dump", str(ident), "--offset", "8", "--length", "7")
    assert r.raw == b"hello\x00\xff"
    r = cli("shm", "dump", str(ident), "--length", "16", "--hex")
    assert r.out.startswith("00000000  00 00 00 00 00 00 00 00 68 65 6c 6c 6f 00 ff 00")
    r = cli("shm", "dump", str(ident), "--offset", "60", "--length", "10")
    assert r.status == ExitStatus.USAGE


def test_stat_and_rm_of_sem_and_shm(cli, ipc_tracker):
    sem = ipc_tracker.ipcmk("-S", "1")
    shm = ipc_tracker.ipcmk("-M", "100")
    assert "count" in cli("stat", "-s", str(sem)).out
    assert json.loads(cli("stat", "-m", str(shm), "--json").out)["size"] == 100
    assert cli("rm", "-s", str(sem)).status == 0
    assert cli("rm", "-m", str(shm)).status == 0
    assert sem not in ipcs_rows("-s") and shm not in ipcs_rows("-m")


def test_rm_all_mine_removes_only_this_users_objects(ipc_tracker):
    # Run as an unprivileged user, so that only that user's objects (made
    # here) can be touched even in a shared IPC namespace.
    from support import NOBODY, Child

    def ipcmk_as_nobody(*args):
        out = subprocess.run(["ipcmk", *args], capture_output=True, text=True, check=True,
                             timeout=10, user=NOBODY, group=NOBODY, extra_groups=[]).stdout
        return int(out.split()[-1])

    made = [ipc_tracker.track("msg", ipcmk_as_nobody("-Q")),
            ipc_tracker.track("sem", ipcmk_as_nobody("-S", "1")),
            ipc_tracker.track("shm", ipcmk_as_nobody("-M", "10"))]
    root_owned = ipc_tracker.ipcmk("-Q")

    def rm_all_mine(*extra):
        import io

        from unixipc.cli import Environment, main

        out = io.StringIO()
        status = main(["rm", "--all-mine", *extra],
                      Environment(stdout=out, stderr=io.StringIO(), stdout_isatty=False))
        return status, out.getvalue()

    status, out = Child(rm_all_mine, "--dry-run", uid=NOBODY).result(timeout=20)
    assert status == 0 and out.count("would remove") == 3
    status, out = Child(rm_all_mine, uid=NOBODY).result(timeout=20)
    assert status == 0 and out.count("removed") == 3
    assert not any(m in ipcs_rows(f) for m, f in zip(made, ("-q", "-s", "-m")))
    assert root_owned in ipcs_rows("-q")
