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


def test_ftok_prints_key_like_ipcs(cli, tmp_path):
    key = unixipc.ftok(tmp_path, 7)
    r = cli("ftok", str(tmp_path), "7")
    assert r.status == 0
    assert r.out.strip() == f"0x{key & 0xffffffff:08x}"
    assert cli("ftok", "--decimal", str(tmp_path), "7").out.strip() == str(key)


def test_errors_are_one_line_with_errno_kept(cli, tmp_path):
    r = cli("ftok", str(tmp_path / "missing"), "1")
    assert r.status == ExitStatus.ERROR
    assert r.err.count("\n") == 1
    assert "No such file" in r.err
    r = cli("--traceback", "ftok", str(tmp_path / "missing"), "1")
    assert "Traceback" in r.err


def test_bad_value_is_reported_not_raised(cli, tmp_path):
    r = cli("ftok", str(tmp_path), "0")
    assert r.status == ExitStatus.ERROR
    assert "1..255" in r.err


def test_runs_as_a_subprocess(tmp_path):
    done = subprocess.run([sys.executable, "-m", "unixipc", "ftok", str(tmp_path), "1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip().startswith("0x")
    exe = os.path.join(os.path.dirname(sys.executable), "unixipc")
    done = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "unixipc" in done.stdout
