"""unixipc beside util-linux (issue 13): each row of the parity table in
docs/cli.md is a test here, run against the real ipcmk, ipcrm and ipcs."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from support import Child, private_ipc_namespace

import unixipc
from unixipc.cli import ExitStatus


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30)


def ipcs_rows(flag: str) -> dict[int, list[str]]:
    out = run("ipcs", flag).stdout
    return {int(l.split()[1]): l.split() for l in out.splitlines() if l.startswith("0x")}


def _ids(out: str) -> list[tuple[str, int]]:
    return [(m.group(1), int(m.group(2))) for m in re.finditer(r"^(.*) id: (\d+)$", out, re.M)]


def _track(ipc_tracker, out: str) -> list[tuple[str, int]]:
    found = _ids(out)
    kinds = {"Shared memory": "shm", "Message queue": "msg", "Semaphore": "sem"}
    for label, ident in found:
        ipc_tracker.track(kinds[label], ident)
    return found


def test_mk_prints_what_ipcmk_prints(cli, ipc_tracker):
    """mk -Q, -S N, -M SIZE with -p MODE: the same lines, in the same order,
    and objects that ipcs shows alike (mode, nsems, bytes)."""
    theirs = run("ipcmk", "-Q", "-S", "3", "-M", "4K", "-p", "0640")
    assert theirs.returncode == 0
    r = cli("mk", "-Q", "-S", "3", "-M", "4K", "-p", "0640")
    assert r.status == 0, r.err
    a, b = _track(ipc_tracker, theirs.stdout), _track(ipc_tracker, r.out)
    assert [label for label, _ in a] == [label for label, _ in b] == [
        "Shared memory", "Message queue", "Semaphore"]
    for flag, (_, their_id), (_, our_id), columns in (("-m", a[0], b[0], slice(2, 5)),
                                                      ("-q", a[1], b[1], slice(2, 4)),
                                                      ("-s", a[2], b[2], slice(2, 5))):
        rows = ipcs_rows(flag)
        assert rows[their_id][columns] == rows[our_id][columns], flag
        assert rows[our_id][0] != "0x00000000"  # a real key, as ipcmk makes
    # the default mode is ipcmk's 0644
    theirs, ours = run("ipcmk", "-Q"), cli("mk", "-Q")
    ((_, t),), ((_, o),) = _track(ipc_tracker, theirs.stdout), _track(ipc_tracker, ours.out)
    assert ipcs_rows("-q")[t][3] == ipcs_rows("-q")[o][3] == "644"


@pytest.mark.parametrize("size,expected", [("1", 1), ("4K", 4096), ("4KiB", 4096),
                                           ("1M", 1 << 20), ("2MB", 2_000_000)])
def test_mk_sizes_as_ipcmk_reads_them(cli, ipc_tracker, size, expected):
    theirs = run("ipcmk", "-M", size)
    r = cli("mk", "-M", size)
    ((_, t),), ((_, o),) = _track(ipc_tracker, theirs.stdout), _track(ipc_tracker, r.out)
    rows = ipcs_rows("-m")
    assert int(rows[o][4]) == int(rows[t][4]) == expected


def test_mk_json_is_the_ls_record(cli, ipc_tracker):
    r = cli("mk", "-S", "2", "--json")
    rec = json.loads(r.out)
    ipc_tracker.track("sem", rec["id"])
    assert rec == json.loads(cli("stat", "-s", str(rec["id"]), "--json").out)
    assert rec["values"] == [0, 0] and rec["perms"] == "644"


def test_mk_refusals_as_ipcmk(cli):
    """ipcmk -S 0 and -M 0 fail; so do these (as usage errors)."""
    assert run("ipcmk", "-S", "0").returncode != 0
    assert cli("mk", "-S", "0").status == ExitStatus.USAGE
    assert run("ipcmk", "-M", "0").returncode != 0
    assert cli("mk", "-M", "0").status == ExitStatus.USAGE
    assert cli("mk").status == ExitStatus.USAGE


def test_rm_several_kinds_in_one_call_as_ipcrm(cli, ipc_tracker):
    ours = [ipc_tracker.ipcmk("-Q"), ipc_tracker.ipcmk("-M", "64"), ipc_tracker.ipcmk("-S", "1")]
    theirs = [ipc_tracker.ipcmk("-Q"), ipc_tracker.ipcmk("-M", "64"),
              ipc_tracker.ipcmk("-S", "1")]
    done = run("ipcrm", "-q", str(theirs[0]), "-m", str(theirs[1]), "-s", str(theirs[2]))
    assert done.returncode == 0
    r = cli("rm", "-q", str(ours[0]), "-m", str(ours[1]), "-s", str(ours[2]))
    assert r.status == 0, r.err
    assert r.out == (f"removed queue {ours[0]}\nremoved segment {ours[1]}\n"
                     f"removed semaphore set {ours[2]}\n")
    for flag, i in (("-q", 0), ("-m", 1), ("-s", 2)):
        assert not {ours[i], theirs[i]} & set(ipcs_rows(flag))


def test_rm_by_keys_of_each_kind_as_ipcrm(cli, ipc_tracker):
    made = {"-Q": ipc_tracker.ipcmk("-Q"), "-M": ipc_tracker.ipcmk("-M", "64"),
            "-S": ipc_tracker.ipcmk("-S", "1")}
    flags = {"-Q": "-q", "-M": "-m", "-S": "-s"}
    argv = []
    for upper, ident in made.items():
        argv += [upper, ipcs_rows(flags[upper])[ident][0]]
    assert cli("rm", *argv).status == 0
    for upper, ident in made.items():
        assert ident not in ipcs_rows(flags[upper])
    # a missing key: both fail
    assert run("ipcrm", "-Q", "0x7ffe0003").returncode != 0
    assert cli("rm", "-Q", "0x7ffe0003").status == ExitStatus.ERROR
    # key 0: ipcrm says "illegal key", unixipc refuses it as a usage error
    assert "illegal key" in run("ipcrm", "-Q", "0").stderr
    assert cli("rm", "-Q", "0").status == ExitStatus.USAGE


@pytest.mark.skipif(not private_ipc_namespace(),
                    reason="removes every object: only in a private IPC namespace")
@pytest.mark.parametrize("which", [None, "msg", "sem", "shm"])
def test_rm_all_as_ipcrm_all(cli, ipc_tracker, which):
    """-a/--all[=KIND]: every object (of the kind) goes, as with ipcrm -a."""
    made = {"msg": ipc_tracker.ipcmk("-Q"), "sem": ipc_tracker.ipcmk("-S", "1"),
            "shm": ipc_tracker.ipcmk("-M", "64")}
    flags = {"msg": "-q", "sem": "-s", "shm": "-m"}
    r = cli("rm", "--all" if which is None else f"--all={which}")
    assert r.status == 0, r.err
    for kind, ident in made.items():
        gone = which in (None, kind)
        assert (ident not in ipcs_rows(flags[kind])) == gone, kind
    # and ipcrm -a agrees that nothing of the kind is left for it to remove
    done = run("ipcrm", "-a" if which is None else f"--all={which}")
    assert done.returncode == 0


def test_stat_by_key_and_values_as_ipcs_i(cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-S", "3")
    unixipc.SemaphoreSet.from_id(ident).values = [1, 5, 0]
    key = ipcs_rows("-s")[ident][0]
    theirs = run("ipcs", "-s", "-i", str(ident)).stdout
    # ipcs -i lists "semnum value ncount zcount pid" rows
    values = [int(l.split()[1]) for l in theirs.splitlines() if re.match(r"^\d+\s+\d+", l)]
    assert values == [1, 5, 0]
    text = cli("stat", "-s", "--key", key).out
    assert f"id  {ident}" in text and "values  1 5 0" in text


def _ipcs_section(flag: str, view: str) -> dict[int, list[str]]:
    """ipcs FLAG VIEW rows by id (the first column)."""
    out = run("ipcs", flag, view).stdout
    return {int(l.split()[0]): l.split() for l in out.splitlines() if l[:1].isdigit()}


def _ours(cli, flag: str, view: str) -> dict[int, list[str]]:
    out = cli("ls", flag, view).out
    return {int(l.split()[1]): l.split() for l in out.splitlines() if l.startswith("0x")}


def test_ls_pids_as_ipcs_p(cli, ipc_tracker):
    q, m = ipc_tracker.ipcmk("-Q"), ipc_tracker.ipcmk("-M", "64")
    assert cli("msg", "send", str(q), "x").status == 0
    seg = unixipc.SharedMemory.from_id(m)
    seg.attach()
    seg.detach()
    theirs, ours = _ipcs_section("-q", "-p"), _ours(cli, "-q", "-p")
    assert ours[q][2] == theirs[q][1] and ours[q][4:] == theirs[q][2:4]  # owner, lspid lrpid
    theirs, ours = _ipcs_section("-m", "-p"), _ours(cli, "-m", "-p")
    assert ours[m][4:] == theirs[m][2:4]  # cpid lpid
    # ipcs -p shows no semaphore sets; neither does ls -p
    assert "Semaphore" not in cli("ls", "-p").out and "Semaphore" not in run("ipcs", "-p").stdout


def test_ls_creators_as_ipcs_c(cli, ipc_tracker):
    ids = {"-q": ipc_tracker.ipcmk("-Q", "-p", "0640"), "-s": ipc_tracker.ipcmk("-S", "1"),
           "-m": ipc_tracker.ipcmk("-M", "64")}
    for flag, ident in ids.items():
        theirs, ours = _ipcs_section(flag, "-c"), _ours(cli, flag, "-c")
        # ipcs: id perms cuid cgid uid gid; ours: key id owner perms cuid cgid uid gid
        assert ours[ident][3] == theirs[ident][1].lstrip("0"), flag
        assert ours[ident][4:8] == theirs[ident][2:6], flag


def _by_header(table: str, ident: int, names: list[str]) -> list[str]:
    """The cells under ``names`` in the row of ``ident`` (text columns are
    left-aligned under their header)."""
    lines = table.splitlines()
    header = next(l for l in lines if l.startswith("key "))
    row = next(l for l in lines if l.split()[1:2] == [str(ident)])
    starts = [header.index(" " + n) + 1 for n in names] + [len(row) + 1]
    return [row[a:b].strip() for a, b in zip(starts, starts[1:])]


def _their_times(flag: str, ident: int, names: list[str]) -> list[bool]:
    out = run("ipcs", flag, "-t").stdout.splitlines()
    header = next(l for l in out if l.split()[1:2] == ["owner"])
    row = next(l for l in out if l.split()[:1] == [str(ident)])
    starts = [header.index(n) for n in names] + [len(row) + 1]
    return [row[a:b].strip() != "Not set" for a, b in zip(starts, starts[1:])]


def test_ls_times_as_ipcs_t(cli, ipc_tracker):
    """Which times are set (ipcs: 'Not set', ours: '-') agree, kind by kind."""
    q, s, m = ipc_tracker.ipcmk("-Q"), ipc_tracker.ipcmk("-S", "1"), ipc_tracker.ipcmk("-M", "64")
    assert cli("msg", "send", str(q), "x").status == 0
    seg = unixipc.SharedMemory.from_id(m)
    seg.attach()
    for flag, ident, theirs, ours in (
            ("-q", q, ["send", "recv", "change"], ["send", "recv", "change"]),
            ("-m", m, ["attached", "detached", "changed"], ["attached", "detached", "changed"]),
            ("-s", s, ["last-op", "last-changed"], ["last-op", "last-changed"])):
        cells = _by_header(cli("ls", flag, "-t").out, ident, ours)
        assert [c != "-" for c in cells] == _their_times(flag, ident, theirs), flag
    seg.detach()
    assert [c != "-" for c in _by_header(cli("ls", "-q", "-t").out, q,
                                         ["send", "recv", "change"])] == [True, False, True]


def test_ls_limits_as_ipcs_l(cli):
    theirs = run("ipcs", "-l").stdout
    values = {l.rsplit("=", 1)[0].strip(): int(l.rsplit("=", 1)[1]) for l in theirs.splitlines()
              if "=" in l}
    data = json.loads(cli("ls", "-l", "--json").out)
    assert data["msg"] == {"max_queues": values["max queues system wide"],
                           "max_message_size": values["max size of message (bytes)"],
                           "default_max_bytes": values["default max size of queue (bytes)"]}
    assert data["shm"]["max_segments"] == values["max number of segments"]
    assert data["shm"]["max_size"] // 1024 == values["max seg size (kbytes)"]
    assert data["shm"]["min_size"] == values["min seg size (bytes)"]
    assert data["sem"] == {"max_sets": values["max number of arrays"],
                           "max_per_set": values["max semaphores per array"],
                           "max_system_wide": values["max semaphores system wide"],
                           "max_ops_per_call": values["max ops per semop call"],
                           "max_value": values["semaphore max value"]}
    text = cli("ls", "-l").out
    assert "max queues system wide" in text and "semaphore max value" in text


def test_ls_summary_as_ipcs_u(cli, ipc_tracker):
    q = ipc_tracker.ipcmk("-Q")
    ipc_tracker.ipcmk("-M", "5000")
    ipc_tracker.ipcmk("-S", "3")
    assert cli("msg", "send", str(q), "hello").status == 0
    theirs = run("ipcs", "-u").stdout

    def their(label: str) -> int:
        line = next(l for l in theirs.splitlines() if l.startswith(label))
        return int(re.findall(r"\d+", line)[0])

    data = json.loads(cli("ls", "-u", "--json").out)
    assert data["msg"]["queues"] == their("allocated queues")
    assert data["msg"]["messages"] == their("used headers")
    assert data["msg"]["bytes"] == their("used space")
    assert data["shm"]["segments"] == their("segments allocated")
    assert data["shm"]["pages"] == their("pages allocated")
    assert data["sem"]["sets"] == their("used arrays")
    assert data["sem"]["semaphores"] == their("allocated semaphores")
    assert data["shm"]["resident_pages"] == their("pages resident")
    assert data["shm"]["swapped_pages"] == their("pages swapped")
    limits = json.loads(cli("ls", "-l", "--json").out)
    assert data["msg"]["max_queues"] == limits["msg"]["max_queues"]
    assert data["shm"]["max_total_pages"] == (limits["shm"]["max_total_bytes"]
                                              // os.sysconf("SC_PAGESIZE"))
    text = cli("ls", "-u", "-m").out
    assert f"pages allocated     {their('pages allocated')} of " in text
    assert "pages resident" in text and "Messages" not in text


LSIPC_CASES = [
    ["-m", "-r"], ["-q", "-r"], ["-s", "-r"], ["-m", "-r", "--noheadings"],
    ["-m", "-r", "-b"], ["-q", "-r", "-b"],
    ["-m", "-e", "-o", "KEY,ID,SIZE,PERMS"], ["-q", "--export"], ["-s", "-e"],
    ["-m", "-r", "-o", "ID,CTIME", "--time-format=iso"],
    ["-m", "-r", "-o", "ID,CTIME", "--time-format=full"],
    ["-m", "-r", "-o", "ID,CTIME,ATTACH,DETACH"],
    ["-q", "-r", "-o", "+CUID,CUSER,CGID,CGROUP,UID,USER,GID,GROUP"],
    ["-q", "-r", "-o", "id,send,recv,lspid,lrpid,usedbytes,msgs"],
    ["-s", "-r", "-o", "ID,NSEMS,OTIME,CTIME"],
    ["-m", "-r", "-o", "ID,SIZE,NATTCH,STATUS,CPID,LPID,COMMAND"],
    ["-q", "-n"], ["-m", "--newline", "-o", "ID,SIZE"], ["-s", "-y", "-e"],
    ["-m", "-r", "--notruncate"], ["-q", "-e", "--shell", "-b"],
]


@pytest.mark.parametrize("argv", LSIPC_CASES, ids=[" ".join(a) for a in LSIPC_CASES])
def test_ls_lsipc_columns_and_modes_as_lsipc(cli, ipc_tracker, argv):
    """ls with lsipc's -o COLUMNS, --raw, --export, --noheadings, --bytes and
    --time-format prints what lsipc prints, byte for byte."""
    ipc_tracker.ipcmk("-Q", "-p", "0640")
    q = ipc_tracker.ipcmk("-Q")
    assert cli("msg", "send", str(q), "x" * 3000).status == 0
    ipc_tracker.ipcmk("-M", "5000")
    ipc_tracker.ipcmk("-M", "2097152", "-p", "0600")
    ipc_tracker.ipcmk("-S", "2")
    theirs = run("lsipc", *argv)
    assert theirs.returncode == 0, theirs.stderr
    r = cli("ls", *argv)
    assert r.status == 0, r.err
    assert r.out == theirs.stdout


GLOBAL_CASES = [["-g"], ["-g", "-r"], ["-g", "-e"], ["-g", "-n"], ["-g", "-y"],
                ["-g", "-b", "--noheadings"], ["-g", "--notruncate"], ["-g", "-y", "-e"],
                ["-g", "-r", "-o", "RESOURCE,USED,USE%"], ["--global", "-n", "-b"]]


@pytest.mark.parametrize("argv", GLOBAL_CASES, ids=[" ".join(a) for a in GLOBAL_CASES])
def test_ls_global_as_lsipc_g(cli, ipc_tracker, argv):
    """ls -g: lsipc -g's limits and what is used against them, byte for
    byte, in each output mode. The segments are whole pages and the sets
    of one size: lsipc 2.38 rounds each segment's pages down (the kernel
    counts whole pages, as ls -g does) and adds the first set's count once
    per set; on these objects the figures agree."""
    page = os.sysconf("SC_PAGESIZE")
    ipc_tracker.ipcmk("-Q")
    ipc_tracker.ipcmk("-M", str(3 * page))
    ipc_tracker.ipcmk("-M", str(page))
    ipc_tracker.ipcmk("-S", "2")
    ipc_tracker.ipcmk("-S", "2")
    theirs = run("lsipc", *argv)
    assert theirs.returncode == 0, theirs.stderr
    r = cli("ls", *argv)
    assert r.status == 0, r.err
    assert r.out == theirs.stdout
    if argv == ["-g"]:
        assert " 4 " in r.out.splitlines()[5] and " 2 " in r.out.splitlines()[8]  # pages, sets


def test_ls_global_kinds_and_json(cli, ipc_tracker):
    """-q/-s/-m choose the rows (lsipc 2.38 -g -m prints the segment table's
    header beside them: the rows are compared); --json has numbers."""
    page = os.sysconf("SC_PAGESIZE")
    ipc_tracker.ipcmk("-M", str(2 * page))
    theirs = [l for l in run("lsipc", "-g").stdout.splitlines() if l.startswith("SHM")]
    r = cli("ls", "-g", "-m")
    assert r.status == 0 and r.out.splitlines()[1:] == theirs
    data = json.loads(cli("ls", "-g", "--json", "-s", "-q").out)
    assert [d["resource"] for d in data][:2] == ["MSGMNI", "MSGMAX"]
    assert {d["kind"] for d in data} == {"msg", "sem"}
    shmall = json.loads(cli("ls", "-g", "--json").out)[4]
    assert shmall["resource"] == "SHMALL" and shmall["used"] == unixipc.shared_memory_usage().pages
    assert cli("ls", "-g", "-t").status == ExitStatus.USAGE
    assert cli("ls", "-g", "-o", "KEY").status == ExitStatus.USAGE


@pytest.mark.parametrize("argv", [["-m"], ["-q"], ["-s"], ["-m", "-b", "-P"],
                                  ["-q", "--time-format", "iso"], ["-m", "-o", "ID,SIZE,CTIME"],
                                  ["-s", "-e"], ["-q", "-n"], ["-m", "-r"]],
                         ids=lambda a: " ".join(a))
def test_ls_id_as_lsipc_i(cli, ipc_tracker, argv):
    """ls -i ID: lsipc --id's long form (every column by its long name,
    times in full, a set's elements), or with -e/-n/-r the object's row."""
    kind = {"-m": "shm", "-q": "msg", "-s": "sem"}[argv[0]]
    made = {"shm": lambda: ipc_tracker.ipcmk("-M", "5000"),
            "msg": lambda: ipc_tracker.ipcmk("-Q"),
            "sem": lambda: ipc_tracker.ipcmk("-S", "3")}[kind]
    made()
    ident = made()
    if kind == "msg":
        assert cli("msg", "send", str(ident), "abc").status == 0
    if kind == "sem":
        assert cli("sem", "op", str(ident), "1:+2").status == 0
    full = [argv[0], "-i", str(ident), *argv[1:]]
    theirs = run("lsipc", *full)
    assert theirs.returncode == 0 and theirs.stdout, theirs.stderr
    r = cli("ls", *full)
    assert r.status == 0, r.err
    assert r.out == theirs.stdout


def test_ls_id_not_found(cli):
    r = cli("ls", "-q", "-i", "999999")
    assert r.status == ExitStatus.ERROR and "queue 999999 not found" in r.err
    assert "id 999999 not found" in run("lsipc", "-q", "-i", "999999").stderr
    assert cli("ls", "-i", "0").status == ExitStatus.USAGE  # which kind?


def test_ls_lsipc_table_cells_and_numeric_perms(cli, ipc_tracker):
    """In a table, lsipc aligns differently; the cells are the same."""
    ipc_tracker.ipcmk("-M", "5000", "-p", "0640")
    for argv in (["-m", "-o", "+CUSER"], ["-m", "-P", "-o", "ID,PERMS,SIZE"], ["-m", "-b"]):
        theirs = [l.split() for l in run("lsipc", *argv).stdout.splitlines()]
        ours = [l.split() for l in cli("ls", *argv).out.splitlines()]
        assert ours == theirs, argv


def test_ls_lsipc_refusals(cli):
    assert cli("ls", "-o", "KEY").status == ExitStatus.USAGE  # which kind?
    assert cli("ls", "-m", "-o", "MSGS").status == ExitStatus.USAGE
    assert cli("ls", "-m", "-r", "--json").status == ExitStatus.USAGE
    assert run("lsipc", "-m", "-o", "MSGS").returncode != 0


def test_ls_human_sizes_as_lsipc(cli, ipc_tracker):
    """The sizes lsipc prints for segments of these sizes, and ls --human."""
    from unixipc.cli.columns import human_size

    sizes = [1, 1023, 1024, 3000, 5000, 16384, 1048575, 1 << 20, 3 * (1 << 30) + 1]
    ids = {ipc_tracker.ipcmk("-M", str(size)): size for size in sizes}
    lsipc = dict(l.split() for l in run("lsipc", "-m", "-r", "--noheadings",
                                         "-o", "ID,SIZE").stdout.splitlines())
    for ident, size in ids.items():
        assert human_size(size) == lsipc[str(ident)], size
    assert human_size(0) == "0B" and human_size(5000) == "4.9K" and human_size(3000) == "2.9K"
    ident = next(i for i, size in ids.items() if size == 5000)
    row = next(l.split() for l in cli("ls", "-m", "--human").out.splitlines()
               if l.split()[1:2] == [str(ident)])
    assert row[4] == "4.9K"


def test_ls_creator_command_as_lsipc(cli, ipc_tracker):
    """COMMAND: the creator's command line while it runs (here: this test
    process), empty once it has exited (a segment made by ipcmk)."""
    seg = unixipc.SharedMemory(None, 64, create=True)
    ipc_tracker.track("shm", seg.id)
    ipc_tracker.ipcmk("-M", "64")
    argv = ["-m", "-r", "-o", "ID,CPID,COMMAND"]
    theirs = run("lsipc", *argv).stdout
    assert cli("ls", *argv).out == theirs
    assert f"{seg.id} {os.getpid()} " in theirs and "\\x20" in theirs
    seg.detach()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run commands as uid 65534")
@pytest.mark.parametrize("make,rm_flag", [(["-Q"], "-q"), (["-S", "1"], "-s"),
                                          (["-M", "64"], "-m")])
def test_owner_without_read_permission_removes_as_ipcrm(ipc_tracker, make, rm_flag):
    """An object its owner made with mode 0000: ipcrm removes it for the
    owner, and so does unixipc rm (ownership, not read permission)."""
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    made = []
    for _ in range(2):
        out = run(*nobody, "ipcmk", *make, "-p", "0000").stdout
        made.append(ipc_tracker.track({"-q": "msg", "-s": "sem", "-m": "shm"}[rm_flag],
                                      int(out.split()[-1])))
    assert run(*nobody, "ipcrm", rm_flag, str(made[0])).returncode == 0
    # the command in a forked child that becomes uid 65534 after the imports
    # (an interpreter under /root, as pyenv's, cannot be started as that user)
    from unixipc.cli import main

    assert Child(lambda: main(["rm", rm_flag, str(made[1])]), uid=65534).result() == 0
    assert not set(made) & set(ipcs_rows(rm_flag))
