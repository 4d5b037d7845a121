"""--json everywhere (issue 13): one record per object kind, shared by ls
and stat (integers as integers, owner names, semaphore values, ISO 8601
times), and JSON from msg recv, shm dump, rm, ftok and tour."""

from __future__ import annotations

import datetime
import json
import pwd

import pytest

import unixipc
from unixipc.cli import ExitStatus

FLAGS = {"msg": "-q", "sem": "-s", "shm": "-m"}


def test_ls_and_stat_give_the_same_record(cli, ipc_tracker):
    made = {"msg": ipc_tracker.ipcmk("-Q"), "sem": ipc_tracker.ipcmk("-S", "3"),
            "shm": ipc_tracker.ipcmk("-M", "64")}
    unixipc.SemaphoreSet.from_id(made["sem"]).values = [4, 0, 9]
    listed = json.loads(cli("ls", "--json").out)
    for kind, ident in made.items():
        (from_ls,) = [x for x in listed[kind] if x["id"] == ident]
        from_stat = json.loads(cli("stat", FLAGS[kind], str(ident), "--json").out)
        assert from_ls == from_stat, kind
        assert from_ls["kind"] == kind
        assert from_ls["owner"] == pwd.getpwuid(from_ls["uid"]).pw_name
        assert from_ls["creator"] == pwd.getpwuid(from_ls["cuid"]).pw_name
        for name in ("id", "key", "uid", "gid", "cuid", "cgid", "mode", "seq"):
            assert type(from_ls[name]) is int, (kind, name)
        assert from_ls["key_hex"] == f"0x{from_ls['key'] & 0xffffffff:08x}"
        assert from_ls["perms"] == f"{from_ls['mode']:o}"
        for name, value in from_ls.items():
            if name.endswith("_time") and value is not None:
                assert datetime.datetime.fromisoformat(value).tzinfo is not None
    (sem,) = [x for x in listed["sem"] if x["id"] == made["sem"]]
    assert sem["values"] == [4, 0, 9] and sem["count"] == 3
    # the table's owner and values columns, now in the JSON too
    table = cli("ls", "-s").out
    row = next(line.split() for line in table.splitlines()
               if line.split()[1:2] == [str(made["sem"])])
    assert row[2] == sem["owner"] and row[-1] == "4,0,9"


def test_stat_by_key(cli, ipc_tracker, tmp_path):
    key = unixipc.ftok(tmp_path, 9)
    sems = unixipc.SemaphoreSet(key, 2, create=True)
    ipc_tracker.track("sem", sems.id)
    by_key = json.loads(cli("stat", "-s", "--key", f"0x{key & 0xffffffff:08x}", "--json").out)
    assert by_key == json.loads(cli("stat", "-s", str(sems.id), "--json").out)
    text = cli("stat", "-s", "--key", str(key)).out
    assert f"id  {sems.id}" in text and "values  0 0" in text


def test_ftok_json(any_cli, tmp_path):
    key = unixipc.ftok(tmp_path, 7)
    r = any_cli("ftok", "--json", str(tmp_path), "7")
    assert r.status == 0
    assert json.loads(r.out) == {"path": str(tmp_path), "project_id": 7, "key": key,
                                 "key_hex": f"0x{key & 0xffffffff:08x}"}


def test_rm_json(any_cli, ipc_tracker):
    a = ipc_tracker.ipcmk("-Q")
    key = unixipc.MessageQueue.from_id(a).key
    r = any_cli("rm", "-q", str(a), "999999", "--json")
    assert r.status == ExitStatus.ERROR and r.err == ""
    done, failed = (json.loads(line) for line in r.out.splitlines())
    assert done == {"kind": "msg", "target": f"queue {a}", "id": a, "key": key,
                    "key_hex": f"0x{key & 0xffffffff:08x}", "action": "removed"}
    assert failed["action"] == "failed" and failed["errno"] == 22
    assert failed["error"].startswith("queue 999999 not found")
    b = ipc_tracker.ipcmk("-S", "1")
    r = any_cli("rm", "-s", str(b), "--dry-run", "--json")
    assert json.loads(r.out)["action"] == "would-remove"


def test_tour_json(any_cli):
    r = any_cli("tour", "--only", "ftok", "--only", "msg", "--json")
    assert r.status == 0, r.err
    data = json.loads(r.out)
    assert data["ok"] is True and isinstance(data["seconds"], float)
    assert [s["name"] for s in data["steps"]] == ["ftok", "msg"]
    for step in data["steps"]:
        assert step["ok"] is True and step["error"] is None
        assert step["said"] and step["rules"] and step["title"]
    listed = json.loads(any_cli("tour", "--list", "--json").out)
    assert {"name": "msg", "title": "System V message queues: type selection"} in listed


def test_tour_json_failure(cli, monkeypatch):
    from unixipc.cli import tour_steps

    def broken(ctx):
        ctx.say("tried")
        ctx.check(False, "the rule did not hold")

    step = tour_steps.Step("ftok", "broken step", broken)
    monkeypatch.setattr(tour_steps, "STEPS", [step])
    r = cli("tour", "--json")
    assert r.status == ExitStatus.CHECK_FAILED
    (only,) = json.loads(r.out)["steps"]
    assert only == {"name": "ftok", "title": "broken step", "ok": False, "said": ["tried"],
                    "rules": [], "error": "the rule did not hold"}


@pytest.mark.parametrize("command", [["msg", "recv"], ["shm", "dump"], ["rm"], ["ftok"],
                                     ["tour"], ["ls"], ["stat"], ["sem", "get"], ["bench"]])
def test_json_is_offered(cli, command):
    assert "--json" in cli(*command, "--help").out
