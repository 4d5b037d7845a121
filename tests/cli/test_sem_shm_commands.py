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


def test_ls_json_all_kinds_agree_with_ipcs(cli, ipc_tracker):
    sem = ipc_tracker.ipcmk("-S", "3")
    shm = ipc_tracker.ipcmk("-M", "4096")
    data = json.loads(cli("ls", "--json", "--all-users").out)
    assert set(data) == {"msg", "sem", "shm"}
    sems = {s["id"]: s for s in data["sem"]}
    segs = {s["id"]: s for s in data["shm"]}
    for ident, row in ipcs_rows("-s").items():
        assert sems[ident]["perm"]["key"] == row[0] and sems[ident]["count"] == int(row[4])
    for ident, row in ipcs_rows("-m").items():
        assert segs[ident]["perm"]["key"] == row[0] and segs[ident]["size"] == int(row[4])
        assert segs[ident]["attach_count"] == int(row[5])
    assert sem in sems and shm in segs


def test_sem_set_get_op(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-S", "3")
    assert cli("sem", "set", str(ident), "1", "0", "2").status == 0
    assert unixipc.SemaphoreSet.from_id(ident).values == [1, 0, 2]
    r = cli("sem", "op", str(ident), "0:-1", "1:-1", "--no-wait")
    assert r.status == ExitStatus.ERROR and "Resource temporarily unavailable" in r.err
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
    assert cli("shm", "dump", str(ident), "--offset", "60", "--length", "10").status == 1


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
