"""unixipc man and unixipc completion: generated from the parser, real
(groff reads the page without a warning; bash completes commands, options,
choices and the ids and keys of live objects)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from unixipc.cli import Environment
from unixipc.cli.app import COMMANDS, build_parser
from unixipc.cli.exitcodes import ExitStatus
from unixipc.cli.parsertree import tree, walk

# groff and man run without the asan leg's LD_PRELOAD: a report
# from them (groff has its own alloc-dealloc mismatch) is not about our code
_TOOLS_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def test_man_page_is_valid_roff_and_complete(cli, tmp_path):
    r = cli("man")
    assert r.status == 0 and r.out.startswith(".TH UNIXIPC 1 ")
    page = tmp_path / "unixipc.1"
    page.write_text(r.out)
    if shutil.which("groff"):
        done = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)], env=_TOOLS_ENV,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stderr == ""
    text = r.out.replace("\\-", "-").replace("\\e", "\\")
    for node in walk(tree(build_parser(Environment()))):
        if node.children or not node.words:
            continue
        assert f".SS unixipc {' '.join(node.words)}" in text, node.words
        for option in node.flags + node.options_with_value:
            assert option in text, (node.words, option)
    for status in ExitStatus:
        assert f"\\fB{int(status)}\\fR ({status.name})" in text


def test_man_page_reads_with_man(cli, tmp_path):
    if not shutil.which("man"):
        pytest.skip("no man")
    page = tmp_path / "unixipc.1"
    page.write_text(cli("man").out)
    done = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True,
                          timeout=60, env=dict(_TOOLS_ENV, MANPAGER="cat", PAGER="cat"))
    assert done.returncode == 0
    assert "EXIT STATUS" in done.stdout and "unixipc msg recv" in done.stdout


BASH_DRIVER = r'''
eval "$(unixipc completion bash)"
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _unixipc
      echo "${COMPREPLY[*]}"; }
t unixipc ""
t unixipc m
t unixipc msg ""
t unixipc msg recv --fo
t unixipc msg recv ""
t unixipc stat -s ""
t unixipc rm -q ""
t unixipc rm -Q ""
t unixipc tour --only ""
t unixipc ls --time-format ""
t unixipc mq ""
t unixipc mq recv --fo
'''


def test_bash_completion(ipc_tracker, cli):
    q = ipc_tracker.ipcmk("-Q")
    s = ipc_tracker.ipcmk("-S", "1")
    key = next(line.split()[0] for line in cli("ls", "-q").out.splitlines()
               if line.split()[1:2] == [str(q)])
    r = cli("completion", "bash")
    assert r.status == 0 and "complete -F _unixipc unixipc" in r.out
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    done = subprocess.run(["bash", "--norc", "-c", BASH_DRIVER], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.stderr == ""
    lines = [line.split() for line in done.stdout.splitlines()]
    commands = list(COMMANDS)
    commands.insert(commands.index("msg") + 1, "mq")  # msg's other name
    assert lines[0] == commands
    assert lines[1] == ["mk", "msg", "mq", "man"]
    assert lines[2] == ["send", "recv"]
    assert lines[3] == ["--follow"]
    assert str(q) in lines[4] and not any(w.startswith("-") for w in lines[4])
    assert str(s) in lines[5] and str(q) in lines[6]
    assert key in lines[7]
    assert lines[8][:3] == ["pipe", "popen", "coproc"]
    assert lines[9] == ["short", "full", "iso"]
    assert lines[10] == ["send", "recv"] and lines[11] == ["--follow"]


def test_zsh_completion_script(cli):
    r = cli("completion", "zsh")
    assert r.status == 0 and r.out.startswith("#compdef unixipc\n")
    if shutil.which("zsh"):
        done = subprocess.run(["zsh", "-n", "-c", r.out], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
    done = subprocess.run(["bash", "-n", "-c", r.out.split("bashcompinit\n", 1)[1]],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
