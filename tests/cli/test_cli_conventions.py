"""The habits of the whole command (issue 13): --version, one exit-status
table followed by every command, a subcommand's own usage on a bad option,
one wording for a missing object, read-only stat, key 0 refused
everywhere, no bold on a dumb terminal."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from support import NOBODY, Child

import unixipc
from unixipc.cli import Environment, ExitStatus, main

from test_cli_app import SUBCOMMANDS


def _all_objects() -> set[tuple[str, int]]:
    return {(kind, st.id) for kind, listing in (("q", unixipc.message_queues),
                                                ("s", unixipc.semaphore_sets),
                                                ("m", unixipc.shared_memory_segments))
            for st in listing()}


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(any_cli, flag):
    r = any_cli(flag)
    assert r.status == 0 and r.out == f"unixipc {unixipc.__version__}\n" and r.err == ""


@pytest.mark.parametrize("words", [w for w in SUBCOMMANDS if w not in (["msg"], ["sem"],
                                                                       ["shm"])])
def test_bad_option_prints_the_subcommands_usage(cli, words):
    argv = list(words)
    # enough positional arguments that only the option is wrong
    argv += {"rm": ["-q", "1"], "stat": ["-q", "1"], "msg send": ["1", "x"],
             "msg recv": ["1"], "sem get": ["1"], "sem set": ["1", "0"], "sem op": ["1", "0:1"],
             "shm dump": ["1"], "ftok": ["/", "1"], "completion": ["bash"]}.get(" ".join(words),
                                                                                 [])
    r = cli(*argv, "--no-such-option")
    assert r.status == ExitStatus.USAGE
    assert r.err.startswith("usage: unixipc " + " ".join(words) + " "), r.err
    assert r.err.splitlines()[-1] == (f"unixipc {' '.join(words)}: error: unrecognized "
                                      "arguments: --no-such-option")


@pytest.fixture
def objects(ipc_tracker):
    """A queue, an empty queue, a set with values [0, 0] and a segment."""
    return {"q": ipc_tracker.ipcmk("-Q"), "s": ipc_tracker.ipcmk("-S", "2"),
            "m": ipc_tracker.ipcmk("-M", "64")}


MISSING = 999_999

#: (argv, expected status): every command, each kind of outcome. Ids:
#: {q} {s} {m} exist, {x} does not.
TABLE = [
    # 0: success
    (["ls"], 0), (["stat", "-q", "{q}"], 0), (["msg", "send", "{q}", "hi"], 0),
    (["sem", "get", "{s}"], 0), (["sem", "set", "{s}", "1", "1"], 0),
    (["sem", "op", "{s}", "0:+1"], 0), (["shm", "dump", "{m}", "--hex"], 0),
    (["ftok", "/", "1"], 0), (["tour", "--list"], 0), (["rm", "--all-mine", "--dry-run"], 0),
    (["mk", "-Q", "--key", "0x7ffe0004"], 0), (["man"], 0), (["completion", "bash"], 0),
    (["ls", "--posix"], 0), (["ls", "--posix", "--json"], 0),
    # 1: a system call failed (here: the object does not exist)
    (["stat", "-q", "{x}"], 1), (["stat", "-s", "{x}"], 1), (["stat", "-m", "{x}"], 1),
    (["rm", "-q", "{x}"], 1), (["rm", "-s", "{x}"], 1), (["rm", "-m", "{x}"], 1),
    (["msg", "send", "{x}", "hi"], 1), (["msg", "recv", "{x}"], 1),
    (["sem", "get", "{x}"], 1), (["sem", "op", "{x}", "0:1"], 1), (["shm", "dump", "{x}"], 1),
    (["ftok", "/nonexistent", "1"], 1), (["stat", "-q", "--key", "0x7ffe0001"], 1),
    (["mk", "-Q", "--key", "0x7ffe0004"], 1),  # the key is taken: EEXIST
    (["stat", "--posix", "/unixipc-no-such-7ffe"], 1),
    (["stat", "--posix", "/unixipc-no-such-7ffe", "--kind", "mq"], 1),
    (["rm", "--posix", "/unixipc-no-such-7ffe"], 1),
    (["rm", "--posix", "/unixipc-no-such-7ffe", "--kind", "shm", "--dry-run"], 1),
    # 2: the command line was wrong, whatever the command
    (["nonsense"], 2), (["ls", "--bogus"], 2), (["rm"], 2), (["rm", "5"], 2),
    (["rm", "-q", "--key", "0"], 2), (["stat", "{q}"], 2), (["stat", "-q", "abc"], 2),
    (["msg", "send", "{q}", "--hex", "zz"], 2), (["msg", "send", "{q}", "--type", "0", "x"], 2),
    (["msg", "recv", "{q}", "--count", "0"], 2), (["msg", "recv", "--key", "0"], 2),
    (["sem", "set", "{s}", "x"], 2), (["sem", "set", "{s}", "9=1"], 2),
    (["sem", "op", "{s}", "nonsense"], 2), (["sem", "set", "{s}", "1", "2", "3"], 2),
    (["shm", "dump", "{m}", "--offset", "60", "--length", "10"], 2),
    (["ftok", "/", "0"], 2), (["ftok", "/", "x"], 2), (["tour", "--only", "nope"], 2),
    (["bench", "--sizes", "0"], 2), (["bench", "--only", "nope"], 2),
    (["completion", "fish"], 2), (["man", "extra"], 2),
    (["mk"], 2), (["mk", "-S", "0"], 2), (["mk", "-M", "1X"], 2), (["mk", "-Q", "-p", "9"], 2),
    (["mk", "-Q", "-S", "1", "--key", "0x7ffe0005"], 2),
    (["stat", "--posix", "no-slash"], 2), (["rm", "--posix", "/a/b"], 2),
    (["rm", "--kind", "sem", "-q", "{q}"], 2), (["ls", "--posix", "-l"], 2),
    # 4: not without waiting: --no-wait would wait, or --timeout ran out
    (["sem", "set", "{s}", "0", "0"], 0),
    (["msg", "recv", "{q}", "--no-wait"], 4), (["msg", "recv", "{q}", "--timeout", "0.05"], 4),
    (["sem", "op", "{s}", "0:-1", "--no-wait"], 4),
    (["sem", "op", "{s}", "0:-1", "--timeout", "0.05"], 4),
]


def test_every_command_follows_the_exit_status_table(cli, objects, ipc_tracker):
    from unixipc.cli.app import COMMANDS

    assert {argv[0] for argv, _ in TABLE} >= set(COMMANDS)
    ids = {**objects, "x": MISSING}
    for argv, expected in TABLE:
        words = [w.format(**ids) for w in argv]
        r = cli(*words)
        assert r.status == expected, (words, r.err)
        if expected:
            assert r.err.count("\n") >= 1 and "Traceback" not in r.err, words
        if words[:2] == ["msg", "send"] and expected == 0:
            unixipc.MessageQueue.from_id(objects["q"]).receive(block=False)
        if words[0] == "mk" and expected == 0:
            ipc_tracker.track("msg", unixipc.MessageQueue(0x7ffe0004).id)


def test_a_full_queue_with_no_wait_is_4_as_a_timeout(cli, ipc_tracker):
    mq = unixipc.MessageQueue(create=True)
    ipc_tracker.track("msg", mq.id)
    mq.set(max_bytes=8)
    mq.send(b"12345678")
    assert cli("msg", "send", str(mq.id), "x", "--no-wait").status == ExitStatus.TIMEOUT
    assert cli("msg", "send", str(mq.id), "x", "--timeout", "0.05").status == ExitStatus.TIMEOUT


def test_one_wording_for_a_missing_object(cli):
    words = {"-q": "queue", "-s": "semaphore set", "-m": "segment"}
    for flag, noun in words.items():
        stat = cli("stat", flag, str(MISSING)).err
        rm = cli("rm", flag, str(MISSING)).err
        assert stat.startswith(f"unixipc stat: error: {noun} {MISSING} not found (")
        assert rm.startswith(f"unixipc rm: {noun} {MISSING} not found (")
        assert stat.split(" not found ")[1] == rm.split(" not found ")[1]
    assert cli("msg", "recv", str(MISSING)).err.startswith(
        f"unixipc msg recv: error: queue {MISSING} not found (")
    assert cli("sem", "get", str(MISSING)).err.startswith(
        f"unixipc sem get: error: semaphore set {MISSING} not found (")
    assert cli("shm", "dump", str(MISSING)).err.startswith(
        f"unixipc shm dump: error: segment {MISSING} not found (")
    r = cli("stat", "-q", "--key", "0x7ffe0001")
    assert r.err.startswith("unixipc stat: error: queue with key 0x7ffe0001 not found (")


def test_bad_hex_is_a_clean_usage_error(cli, objects):
    r = cli("msg", "send", str(objects["q"]), "--hex", "zz")
    assert r.status == ExitStatus.USAGE
    assert r.err == ("unixipc msg send: error: --hex DATA must be pairs of hex digits "
                     "(00ff10), not 'zz'\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")
@pytest.mark.parametrize("flag,make", [("-q", ["-Q"]), ("-s", ["-S", "2"]),
                                       ("-m", ["-M", "64"])])
def test_stat_works_without_read_permission(cli, ipc_tracker, flag, make):
    """As ipcs -i does: IPC_STAT is refused (mode 0600, another user), the
    *_STAT_ANY record is shown."""
    import json

    ident = ipc_tracker.ipcmk(*make, "-p", "0600")

    def child() -> tuple[int, str, int, str]:
        r = cli("stat", flag, str(ident))
        j = cli("stat", flag, str(ident), "--json")
        return r.status, r.out + r.err, j.status, j.out

    status, text, jstatus, jout = Child(child, uid=NOBODY).result(timeout=30)
    assert status == 0, text
    assert f"id  {ident}" in text and "mode  600" in text
    assert jstatus == 0 and json.loads(jout)["id"] == ident
    if flag == "-s":
        assert "values  ? (not readable)" in text and json.loads(jout)["values"] is None


@pytest.mark.parametrize("argv", [
    ["rm", "-q", "--key", "0"], ["rm", "-s", "--key", "0", "--dry-run"],
    ["rm", "-m", "--key", "0", "--dry-run"], ["rm", "-Q", "0"], ["rm", "-S", "0x0"],
    ["rm", "-M", "0", "--dry-run"], ["stat", "-q", "--key", "0"],
    ["msg", "send", "--key", "0", "x"], ["msg", "recv", "--key", "0", "--no-wait"],
])
def test_key_0_is_refused_and_creates_nothing(cli, argv):
    before = _all_objects()
    r = cli(*argv)
    assert r.status == ExitStatus.USAGE and "IPC_PRIVATE" in r.err
    assert _all_objects() == before


def test_no_command_but_a_create_command_creates(cli, objects):
    """By key, every command opens and never creates: an unknown key is
    'not found', and nothing new appears."""
    before = _all_objects()
    for argv in (["rm", "-q", "--key", "0x7ffe0002"], ["rm", "-M", "0x7ffe0002", "--dry-run"],
                 ["rm", "-S", "0x7ffe0002"], ["stat", "-s", "--key", "0x7ffe0002"],
                 ["msg", "send", "--key", "0x7ffe0002", "x"],
                 ["msg", "recv", "--key", "0x7ffe0002", "--no-wait"]):
        r = cli(*argv)
        assert r.status == ExitStatus.ERROR and "not found" in r.err, argv
    assert _all_objects() == before


def test_undo_help_says_the_kernel_undoes_it_at_exit(cli):
    out = cli("sem", "op", "--help").out
    assert "--undo" in out
    help_text = " ".join(out.split("--undo", 2)[2].split())
    assert "reverts the operation when this process exits" in help_text


def test_dumb_terminal_and_no_color_get_no_bold(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert Environment(stdout=Terminal()).bold("x") == "\x1b[1mx\x1b[0m"
    monkeypatch.setenv("TERM", "dumb")
    assert Environment(stdout=Terminal()).bold("x") == "x"
    out = Terminal()
    assert main(["tour", "--only", "ftok"], Environment(stdout=out, stderr=io.StringIO())) == 0
    assert "\x1b" not in out.getvalue()
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    assert Environment(stdout=Terminal()).bold("x") == "x"


def test_version_as_installed_script():
    exe = os.path.join(os.path.dirname(sys.executable), "unixipc")
    done = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("unixipc ")
