"""unixipc beside util-linux (issue 13): each row of the parity table in
docs/cli.md is a test here, run against the real ipcmk, ipcrm and ipcs."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from support import private_ipc_namespace

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
