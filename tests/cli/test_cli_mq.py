"""msg send|recv (also spelled mq) on POSIX message queues by /name
(issues 12 and 13): the same command and the same framing as for System V
queues (--json, -0, --lines, --hex, escaped bytes on a terminal), with
priorities in place of types; between real processes."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import pytest
from support import posix_name, wait_blocked

from unixipc import posix
from unixipc.cli import ExitStatus

UNIXIPC = [sys.executable, "-m", "unixipc"]


@pytest.fixture
def pmq():
    """A POSIX queue of this test (mode 0o600), unlinked afterwards."""
    mq = posix.MessageQueue(posix_name("climq"), exclusive=True, max_messages=8,
                            max_message_size=256)
    try:
        yield mq
    finally:
        try:
            mq.unlink()
        except FileNotFoundError:
            pass
        mq.close()


def test_send_by_name_from_another_process(pmq):
    """Separate processes send (text, --hex, standard input; as mq and as
    msg) with priorities; this one receives the bytes and priorities
    exactly."""
    for command, argv, stdin in (("mq", [pmq.name, "hello", "--priority", "3"], b""),
                                 ("msg", [pmq.name, "--hex", "00ff10"], b""),
                                 ("mq", [pmq.name, "-", "--priority", "9"], b"\x00bin\xff")):
        done = subprocess.run(UNIXIPC + [command, "send", *argv], input=stdin,
                              capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
    assert pmq.receive(timeout=5) == (b"\x00bin\xff", 9)
    assert pmq.receive(timeout=5) == (b"hello", 3)
    assert pmq.receive(timeout=5) == (b"\x00\xff\x10", 0)


def test_json_lines_highest_priority_first(any_cli, pmq):
    pmq.send(b"low", 1)
    pmq.send(b"\x00\xff", 7)
    pmq.send("süß".encode(), 4)
    r = any_cli("mq", "recv", pmq.name, "--count", "3", "--json")
    assert r.status == 0, r.err
    assert [json.loads(line) for line in r.out.splitlines()] == [
        {"priority": 7, "size": 2, "encoding": "base64",
         "data": base64.b64encode(b"\x00\xff").decode()},
        {"priority": 4, "size": 5, "encoding": "text", "data": "süß"},
        {"priority": 1, "size": 3, "encoding": "text", "data": "low"}]


@pytest.mark.parametrize("flag,sep", [("-0", b"\0"), ("--lines", b"\n"), ("--raw", b"")])
def test_separators_and_raw(cli, pmq, flag, sep):
    pmq.send(b"aaa")
    pmq.send(b"bbb")
    r = cli("mq", "recv", pmq.name, "--count", "2", flag)
    assert r.status == 0 and r.raw == b"aaa" + sep + b"bbb" + sep


def test_terminal_escapes_and_hex(cli, pmq):
    pmq.send(b"\x1b]0;owned\x07red\n", 2)
    pmq.send(b"\x01\x02", 1)
    r = cli("mq", "recv", pmq.name, tty=True)
    assert r.status == 0 and r.out == "2\t\\x1b]0;owned\\x07red\\n\n"
    assert cli("mq", "recv", pmq.name, "--hex", tty=True).out == "1\t0102\n"


def test_receive_waits_for_a_later_sender(pmq):
    """recv in its own process blocks on the empty queue until this process
    sends; a bounded wait, no sleep."""
    proc = subprocess.Popen(UNIXIPC + ["mq", "recv", pmq.name, "--timeout", "30", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_blocked(proc.pid, timeout=30)
        pmq.send(b"late", 5)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out) == {"priority": 5, "size": 4, "encoding": "text", "data": "late"}


@pytest.mark.timeout(60)
def test_follow_into_head_ends_after_two_messages(pmq):
    for i in range(3):
        pmq.send(f"m{i + 1}".encode())
    script = (" ".join(UNIXIPC) + f" mq recv {pmq.name} --follow --lines | head -2; "
              "echo status ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", script], capture_output=True, timeout=30)
    assert done.stdout == b"m1\nm2\nstatus 141\n" and done.stderr == b""


def test_empty_queue_no_wait_and_timeout_are_status_4(cli, pmq):
    t0 = time.monotonic()
    assert cli("mq", "recv", pmq.name, "--no-wait").status == ExitStatus.TIMEOUT
    assert cli("mq", "recv", pmq.name, "--timeout", "0.05").status == ExitStatus.TIMEOUT
    assert time.monotonic() - t0 < 5
    for i in range(8):
        pmq.send(b"x")
    assert cli("mq", "send", pmq.name, "y", "--no-wait").status == ExitStatus.TIMEOUT


def test_mistakes_and_not_found(cli, pmq):
    missing = posix_name("nosuch")
    r = cli("mq", "recv", missing, "--no-wait")
    assert r.status == ExitStatus.ERROR
    assert r.err == (f"unixipc mq recv: error: POSIX message queue {missing} not found "
                     "(mq_open: No such file or directory)\n")
    assert cli("mq", "send", missing, "x").status == ExitStatus.ERROR
    for argv in (["recv", pmq.name, "--type", "2"], ["recv", pmq.name, "--truncate", "3"],
                 ["send", pmq.name, "x", "--type", "2"], ["send", "5", "x", "--priority", "1"],
                 ["recv", "/a/b"], ["send", "nonsense", "x"], ["recv", "nonsense"],
                 ["send", pmq.name, "x", "--priority", "-1"],
                 ["send", pmq.name, "y" * 257]):
        r = cli("mq", *argv)
        assert r.status == ExitStatus.USAGE, (argv, r.err)
    assert pmq.attributes().current_messages == 0  # nothing was sent by a mistake


def test_system_v_queues_keep_working_under_both_names(cli, ipc_tracker):
    q = ipc_tracker.ipcmk("-Q")
    assert cli("mq", "send", str(q), "sysv", "--type", "4").status == 0
    r = cli("msg", "recv", str(q), "--json")
    assert json.loads(r.out) == {"type": 4, "size": 4, "encoding": "text", "data": "sysv"}


def test_stat_and_rm_take_the_name_as_their_argument(cli, pmq):
    """stat /NAME and rm /NAME are stat --posix NAME and rm --posix NAME."""
    pmq.send(b"abc")
    r = cli("stat", pmq.name, "--json")
    assert r.status == 0, r.err
    assert r.out == cli("stat", "--posix", pmq.name, "--json").out
    assert json.loads(r.out)["messages"] == 1
    assert cli("stat", "nonsense").status == ExitStatus.USAGE
    assert cli("rm", pmq.name, "--dry-run").status == 0
    assert pmq.attributes().current_messages == 1  # still there
    r = cli("rm", pmq.name)
    assert r.status == 0, r.err
    with pytest.raises(FileNotFoundError):
        posix.MessageQueue(pmq.name)
    assert cli("rm", pmq.name).status == ExitStatus.ERROR
