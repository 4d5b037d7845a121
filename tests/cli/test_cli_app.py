"""The command's frame: help, usage errors, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import unixipc
from unixipc.cli import ExitStatus


def test_help_lists_commands_with_examples(cli):
    r = cli("--help")
    assert r.status == 0
    assert "ftok" in r.out and "examples:" in r.out


def test_usage_error_is_status_2(cli):
    r = cli("no-such-command")
    assert r.status == ExitStatus.USAGE
    assert "invalid choice" in r.err


def test_ftok_prints_key_like_ipcs(any_cli, tmp_path):
    key = unixipc.ftok(tmp_path, 7)
    r = any_cli("ftok", str(tmp_path), "7")
    assert r.status == 0
    assert r.out == f"0x{key & 0xffffffff:08x}\n"
    assert any_cli("ftok", "--decimal", str(tmp_path), "7").out == f"{key}\n"
    # the key ipcmk makes from the same file (util-linux has no ftok command,
    # but ipcs prints the key of a queue created with ftok's key)
    mq = unixipc.MessageQueue(key, create=True)
    try:
        ipcs = subprocess.run(["ipcs", "-q"], capture_output=True, text=True, check=True,
                              timeout=10).stdout
    finally:
        mq.remove()
    assert [r.out.strip(), str(mq.id)] in [line.split()[:2] for line in ipcs.splitlines()]


def test_errors_are_one_line_with_errno_kept(cli, tmp_path):
    r = cli("ftok", str(tmp_path / "missing"), "1")
    assert r.status == ExitStatus.ERROR
    assert r.err.count("\n") == 1
    assert "No such file" in r.err
    r = cli("--traceback", "ftok", str(tmp_path / "missing"), "1")
    assert "Traceback" in r.err


def test_bad_value_is_reported_not_raised(cli, tmp_path):
    r = cli("ftok", str(tmp_path), "0")
    assert r.status == ExitStatus.USAGE  # a value the library refuses: the command line
    assert "1..255" in r.err


def test_runs_as_a_subprocess(tmp_path):
    done = subprocess.run([sys.executable, "-m", "unixipc.cli", "ftok", str(tmp_path), "1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout == f"0x{unixipc.ftok(tmp_path, 1) & 0xffffffff:08x}\n"
    exe = os.path.join(os.path.dirname(sys.executable), "unixipc")
    done = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "unixipc" in done.stdout


SUBCOMMANDS = [["ls"], ["mk"], ["rm"], ["stat"], ["msg"], ["msg", "send"], ["msg", "recv"], ["sem"],
               ["sem", "get"], ["sem", "set"], ["sem", "op"], ["shm"], ["shm", "dump"],
               ["ftok"], ["tour"], ["bench"], ["completion"], ["man"]]


def test_every_command_has_help_with_examples(cli):
    from unixipc.cli.app import COMMANDS

    assert {c[0] for c in SUBCOMMANDS} == set(COMMANDS)
    for words in SUBCOMMANDS:
        r = cli(*words, "--help")
        assert r.status == 0, words
        assert r.out.startswith("usage: unixipc " + " ".join(words)), words
        examples = r.out.split("examples:\n", 1)[1]
        assert "unixipc " + " ".join(words) + " " in examples, words
        assert r.err == ""


def test_help_as_a_subprocess():
    done = subprocess.run([sys.executable, "-m", "unixipc", "msg", "recv", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "examples:" in done.stdout and "--follow" in done.stdout


def test_exit_statuses_are_an_int_enum():
    import enum

    assert issubclass(ExitStatus, enum.IntEnum)
    assert [int(s) for s in ExitStatus] == [0, 1, 2, 3, 4, 129, 130, 141, 143]


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch, tmp_path):
    import io

    from unixipc.cli import Environment

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert Environment(stdout=Terminal()).colors is True
    assert Environment(stdout=io.StringIO()).colors is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert Environment(stdout=Terminal()).colors is False
    monkeypatch.setenv("NO_COLOR", "")  # empty: not set (no-color.org)
    assert Environment(stdout=Terminal()).colors is True

    def run(env_vars: dict[str, str]) -> str:
        out = Terminal()
        monkeypatch.delenv("NO_COLOR", raising=False)
        for k, v in env_vars.items():
            monkeypatch.setenv(k, v)
        assert unixipc.cli.main(["tour", "--only", "ftok"],
                                Environment(stdout=out, stderr=io.StringIO())) == 0
        return out.getvalue()

    assert "\x1b[" in run({})
    assert "\x1b[" not in run({"NO_COLOR": "1"})
    # through a pipe: no escapes
    done = subprocess.run([sys.executable, "-m", "unixipc", "tour", "--only", "ftok"],
                          capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "NO_COLOR"})
    assert done.returncode == 0 and "\x1b" not in done.stdout and "rule:" in done.stdout


def test_unexpected_errors_are_one_line_too(cli, monkeypatch):
    from unixipc.cli.commands import ftok

    def broken(args, env):
        raise RuntimeError("something\nunexpected")

    monkeypatch.setattr(ftok, "run", broken)
    r = cli("ftok", "/", "1")
    assert r.status == ExitStatus.ERROR
    assert r.err == "unixipc ftok: error: RuntimeError: something unexpected\n"
    r = cli("--traceback", "ftok", "/", "1")
    assert r.status == ExitStatus.ERROR and "Traceback" in r.err and "RuntimeError" in r.err
