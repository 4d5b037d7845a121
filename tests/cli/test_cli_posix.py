"""ls/stat/rm --posix (issues 12 and 13): POSIX message queues, named
semaphores and shared memory segments beside the System V objects, with
the same exit-status table and one JSON record per kind. The queue part
needs an mqueue mount, so it runs in a child with its own IPC and mount
namespaces (unshare --ipc --mount) that mounts one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from support import NOBODY, Child, posix_name

from unixipc import posix
from unixipc.cli import ExitStatus

COMMON = {"family", "kind", "name", "owner", "uid", "gid", "mode", "perms"}
SHAPES = {"mq": COMMON | {"messages", "size"}, "sem": COMMON | {"value"},
          "shm": COMMON | {"size"}}


@pytest.fixture
def objects():
    """A semaphore (value 3) and a segment (100 bytes) of this test, mode
    0o600, and a name held by both a semaphore and a segment."""
    made = {"sem": posix.Semaphore(posix_name("clisem"), exclusive=True, initial=3),
            "shm": posix.SharedMemory(posix_name("clishm"), 100, exclusive=True)}
    both = posix_name("both")
    made["both-sem"] = posix.Semaphore(both, exclusive=True)
    made["both-shm"] = posix.SharedMemory(both, 8, exclusive=True)
    try:
        yield {k: v.name for k, v in made.items()}
    finally:
        for obj in made.values():
            try:
                obj.unlink()
            except FileNotFoundError:
                pass
            obj.close()


def _mine(found, kind, name):
    return [r for r in found[kind] if r["name"] == name]


def test_ls_posix_table_and_json(cli, objects):
    r = cli("ls", "--posix")
    assert r.status == ExitStatus.SUCCESS, r.err
    lines = r.out.splitlines()
    assert "POSIX semaphores" in lines and "POSIX shared memory segments" in lines
    assert lines[0] == "POSIX message queues"
    sem = next(line for line in lines if line.startswith(objects["sem"] + " "))
    assert sem.split() == [objects["sem"], "root" if os.getuid() == 0 else sem.split()[1],
                           "600", "3"]
    shm = next(line for line in lines if line.startswith(objects["shm"] + " "))
    assert shm.split()[2:] == ["600", "100"]
    j = cli("ls", "--posix", "--json")
    assert j.status == ExitStatus.SUCCESS
    found = json.loads(j.out)
    assert set(found) == {"mq", "sem", "shm"}
    (s,) = _mine(found, "sem", objects["sem"])
    assert set(s) == SHAPES["sem"]
    assert s == {"family": "posix", "kind": "sem", "name": objects["sem"], "uid": os.getuid(),
                 "gid": os.getgid(), "owner": s["owner"], "mode": 0o600, "perms": "600",
                 "value": 3}
    (m,) = _mine(found, "shm", objects["shm"])
    assert set(m) == SHAPES["shm"] and m["size"] == 100 and m["kind"] == "shm"
    # the semaphores are not listed as segments (sem.* entries of /dev/shm)
    assert not _mine(found, "shm", objects["sem"])
    if found["mq"] is None:
        assert "no mqueue filesystem is mounted" in j.err
    mine = json.loads(cli("ls", "--posix", "--json", "--mine").out)
    assert all(r["uid"] == os.getuid() for k in ("sem", "shm") for r in mine[k])


def run_subprocess(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unixipc", *argv], capture_output=True,
                          text=True, timeout=60)


def test_a_short_semaphore_file_does_not_crash_ls():
    """Regression: sem_open maps a sem.* file shorter than a sem_t and
    reading its value raised SIGBUS, killing ls --posix (anyone may write
    such a file in /dev/shm). Its value is now shown as unknown."""
    name = posix_name("short")
    path = f"/dev/shm/sem.{name[1:]}"
    with open(path, "wb") as f:
        f.write(b"\0" * 4)
    try:
        r = run_subprocess("ls", "--posix", "--json")
        assert r.returncode == ExitStatus.SUCCESS, (r.returncode, r.stderr)
        (s,) = _mine(json.loads(r.stdout), "sem", name)
        assert s["value"] is None
        r = run_subprocess("stat", "--posix", name)
        assert r.returncode == ExitStatus.SUCCESS and "value  ? (not readable)" in r.stdout
    finally:
        os.unlink(path)


def test_ls_without_posix_is_unchanged(cli, objects):
    r = cli("ls")
    assert r.status == ExitStatus.SUCCESS and "POSIX" not in r.out
    assert objects["sem"] not in r.out


def test_stat_posix_finds_the_kind_and_agrees_with_ls(cli, objects):
    r = cli("stat", "--posix", objects["shm"])
    assert r.status == ExitStatus.SUCCESS, r.err
    fields = dict(line.strip().split("  ", 1) for line in r.out.splitlines())
    assert fields["kind"].strip() == "POSIX shared memory segment"
    assert fields["name"].strip() == objects["shm"]
    assert fields["mode"].strip() == "600" and fields["bytes"].strip() == "100"
    j = json.loads(cli("stat", "--posix", objects["sem"], "--json").out)
    listed = _mine(json.loads(cli("ls", "--posix", "--json").out), "sem", objects["sem"])
    assert [j] == listed


def test_an_ambiguous_name_is_refused_until_kind_chooses(cli, objects):
    both = objects["both-sem"]
    for argv in (["stat", "--posix", both], ["rm", "--posix", both]):
        r = cli(*argv)
        assert r.status == ExitStatus.USAGE
        assert r.err == (f"unixipc {argv[0]}: error: {both} names a POSIX semaphore and a "
                         "POSIX shared memory segment: choose one with --kind sem or "
                         "--kind shm\n")
    assert os.path.exists(f"/dev/shm{both}") and os.path.exists(f"/dev/shm/sem.{both[1:]}")
    r = cli("stat", "--posix", both, "--kind", "sem", "--json")
    assert json.loads(r.out)["kind"] == "sem"
    r = cli("rm", "--posix", both, "--kind", "shm")
    assert r.status == ExitStatus.SUCCESS
    assert r.out == f"removed POSIX shared memory segment {both}\n"
    assert not os.path.exists(f"/dev/shm{both}") and os.path.exists(f"/dev/shm/sem.{both[1:]}")
    assert json.loads(cli("stat", "--posix", both, "--json").out)["kind"] == "sem"


def test_rm_posix_dry_run_then_removes(cli, objects):
    sem, shm = objects["sem"], objects["shm"]
    r = cli("rm", "--posix", sem, "--posix", shm, "--dry-run")
    assert r.status == ExitStatus.SUCCESS
    assert r.out == (f"would remove POSIX semaphore {sem}\n"
                     f"would remove POSIX shared memory segment {shm}\n")
    assert {e.name for e in posix.semaphores()} >= {sem}
    r = cli("rm", "--posix", sem, "--posix", shm, "--json")
    assert r.status == ExitStatus.SUCCESS
    reports = [json.loads(line) for line in r.out.splitlines()]
    assert reports == [
        {"family": "posix", "kind": "sem", "name": sem, "target": f"POSIX semaphore {sem}",
         "action": "removed"},
        {"family": "posix", "kind": "shm", "name": shm,
         "target": f"POSIX shared memory segment {shm}", "action": "removed"}]
    assert sem not in {e.name for e in posix.semaphores()}
    assert shm not in {e.name for e in posix.shared_memory_segments()}


def test_not_found_is_exit_1_in_the_system_v_wording(cli):
    name = posix_name("missing")
    r = cli("stat", "--posix", name)
    assert r.status == ExitStatus.ERROR
    assert r.err == (f"unixipc stat: error: POSIX object {name} not found (no message queue, "
                     "semaphore or shared memory segment has this name)\n")
    r = cli("stat", "--posix", name, "--kind", "sem")
    assert r.status == ExitStatus.ERROR
    assert r.err == f"unixipc stat: error: POSIX semaphore {name} not found (No such file or directory)\n"
    r = cli("rm", "--posix", name)
    assert r.status == ExitStatus.ERROR
    assert r.err.startswith(f"unixipc rm: POSIX object {name} not found (")
    r = cli("rm", "--posix", name, "--kind", "shm", "--json")
    assert r.status == ExitStatus.ERROR
    report = json.loads(r.out)
    assert report["action"] == "failed" and report["errno"] == 2
    assert report["error"].startswith(f"POSIX shared memory segment {name} not found")


@pytest.mark.parametrize("argv", [
    ["rm", "--kind", "sem", "-q", "1"], ["stat", "-q", "1", "--kind", "sem"],
    ["stat", "--posix", "no-slash"], ["rm", "--posix", "/a/b"], ["ls", "--posix", "-q"],
    ["ls", "--posix", "-t"], ["stat", "--posix", "/x", "-q"], ["rm", "--posix", "/x", "-a"],
    ["stat", "--posix", "/x", "--kind", "pipe"], ["stat", "5"]])
def test_command_line_mistakes_are_exit_2(cli, argv):
    r = cli(*argv)
    assert r.status == ExitStatus.USAGE, r.err
    assert "error:" in r.err


def test_another_users_objects(cli, objects):
    """As uid 65534: listed with the owner, the value unreadable; rm is
    refused in one line (sticky /dev/shm), and the objects stay."""
    sem = objects["sem"]

    def as_nobody():
        import io

        from unixipc.cli import Environment, main

        def run(*argv):
            out, err = io.StringIO(), io.StringIO()
            status = main(list(argv), Environment(stdout=out, stderr=err, stdout_isatty=False))
            return status, out.getvalue(), err.getvalue()

        return (run("ls", "--posix", "--json"), run("stat", "--posix", sem),
                run("rm", "--posix", sem))

    ls, stat, rm = Child(as_nobody, uid=NOBODY).result(timeout=30)
    assert ls[0] == ExitStatus.SUCCESS
    (s,) = _mine(json.loads(ls[1]), "sem", sem)
    assert s["uid"] == os.getuid() and s["value"] is None
    assert stat[0] == ExitStatus.SUCCESS and "value  ? (not readable)" in stat[1]
    assert rm[0] == ExitStatus.ERROR
    assert rm[2] == (f"unixipc rm: cannot remove POSIX semaphore {sem}: permission denied: "
                     "only its owner or root may remove it (sem_unlink: Permission denied)\n")
    assert sem in {e.name for e in posix.semaphores()}


def test_rm_needs_no_access_to_the_object(cli):
    """Like System V's rm, ownership is enough: a segment and a semaphore
    of mode 000 (which cannot be opened) are removed."""
    shm = posix.SharedMemory(posix_name("mode0"), 8, exclusive=True, mode=0)
    sem = posix.Semaphore(posix_name("mode0s"), exclusive=True, mode=0)
    shm.close()
    sem.close()

    def as_nobody():
        import io

        from unixipc.cli import Environment, main

        err = io.StringIO()
        return main(["rm", "--posix", shm.name, "--posix", sem.name],
                    Environment(stdout=io.StringIO(), stderr=err, stdout_isatty=False)), \
            err.getvalue()

    try:
        os.chown(f"/dev/shm{shm.name}", NOBODY, NOBODY)
        os.chown(f"/dev/shm/sem.{sem.name[1:]}", NOBODY, NOBODY)
        assert Child(as_nobody, uid=NOBODY).result(timeout=30) == (ExitStatus.SUCCESS, "")
        assert not os.path.exists(f"/dev/shm{shm.name}")
        assert not os.path.exists(f"/dev/shm/sem.{sem.name[1:]}")
    finally:
        for obj in (shm, sem):
            try:
                obj.unlink()
            except FileNotFoundError:
                pass


def _mqueue_mounted() -> bool:
    with open("/proc/self/mounts") as f:
        return any(line.split()[2] == "mqueue" for line in f if len(line.split()) > 2)


def test_queues_without_an_mqueue_mount(cli):
    """Without a mount, ls says it cannot list queues (and lists the rest);
    stat and rm still find a queue by name (mq_open, mq_unlink)."""
    if _mqueue_mounted():
        pytest.skip("an mqueue filesystem is mounted here")
    mq = posix.MessageQueue(posix_name("nomount"), exclusive=True, max_messages=4,
                            max_message_size=32)
    try:
        mq.send(b"hello")
        r = cli("ls", "--posix", "--json")
        assert r.status == ExitStatus.SUCCESS and json.loads(r.out)["mq"] is None
        assert r.err.startswith("unixipc ls: warning: no mqueue filesystem is mounted")
        table = cli("ls", "--posix").out
        assert table.startswith("POSIX message queues\n(not listed: no mqueue filesystem")
        j = json.loads(cli("stat", "--posix", mq.name, "--json").out)
        assert set(j) == SHAPES["mq"]
        assert (j["kind"], j["messages"], j["mode"], j["size"]) == ("mq", 1, 0o600, None)
        r = cli("rm", "--posix", mq.name)
        assert r.status == ExitStatus.SUCCESS
        assert r.out == f"removed POSIX message queue {mq.name}\n"
        with pytest.raises(FileNotFoundError):
            posix.MessageQueue(mq.name)
    finally:
        try:
            mq.unlink()
        except FileNotFoundError:
            pass
        mq.close()


_MQ_SCRIPT = textwrap.dedent("""
    import json, subprocess, sys
    from unixipc import posix
    done = subprocess.run(["mount", "-t", "mqueue", "none", sys.argv[1]],
                          capture_output=True, text=True)
    if done.returncode:
        print(json.dumps({"skip": done.stderr.strip()}))
        sys.exit(0)
    def cli(*argv):
        p = subprocess.run([sys.executable, "-m", "unixipc", *argv], capture_output=True,
                           text=True, timeout=60)
        return [p.returncode, p.stdout, p.stderr]
    mq = posix.MessageQueue("/cli-jobs", create=True, mode=0o640, max_messages=4,
                            max_message_size=64)
    mq.send(b"12345")
    mq.send(b"678")
    out = {"ls": cli("ls", "--posix", "--json"), "table": cli("ls", "--posix"),
           "stat": cli("stat", "--posix", "/cli-jobs"),
           "dry": cli("rm", "--posix", "/cli-jobs", "--kind", "mq", "--dry-run"),
           "rm": cli("rm", "--posix", "/cli-jobs"), "again": cli("rm", "--posix", "/cli-jobs"),
           "left": [e.name for e in posix.message_queues()]}
    mq.close()
    print(json.dumps(out))
""")


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_queues_listed_inspected_and_removed_with_a_mount(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting an mqueue filesystem needs root (unshare --mount)")
    mnt = tmp_path / "mqueue"
    mnt.mkdir()
    proc = subprocess.run(["unshare", "--ipc", "--mount", sys.executable, "-c", _MQ_SCRIPT,
                           str(mnt)], capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    if "skip" in out:
        pytest.skip(f"cannot mount an mqueue filesystem here: {out['skip']}")
    status, text, err = out["ls"]
    assert status == 0 and err == "", err
    (q,) = json.loads(text)["mq"]
    assert q == {"family": "posix", "kind": "mq", "name": "/cli-jobs", "owner": q["owner"],
                 "uid": os.getuid(), "gid": os.getgid(), "mode": 0o640 & ~_umask(),
                 "perms": f"{0o640 & ~_umask():o}", "messages": 2, "size": q["size"]}
    assert q["size"] >= 8
    table = out["table"][1].splitlines()
    assert table[:2] == ["POSIX message queues", "name       owner  perms  messages  bytes"]
    assert table[2].split()[0] == "/cli-jobs" and table[2].split()[3] == "2"
    status, text, _ = out["stat"]
    assert status == 0 and "kind  POSIX message queue" in text and "messages  2" in text
    assert out["dry"][:2] == [0, "would remove POSIX message queue /cli-jobs\n"]
    assert out["rm"][:2] == [0, "removed POSIX message queue /cli-jobs\n"]
    assert out["again"][0] == ExitStatus.ERROR
    assert out["again"][2].startswith("unixipc rm: POSIX object /cli-jobs not found")
    assert out["left"] == []


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old
