"""unixipc man and unixipc completion: generated from the parser, real
(groff reads the page without a warning; bash completes commands, options,
choices and the ids and keys of live objects)."""

from __future__ import annotations

import os
import shlex
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
t unixipc completion ""
t unixipc stat "$1"
t unixipc rm --posix "$1"
'''


@pytest.fixture
def posix_names():
    """A POSIX semaphore and segment of this test: their names, and the
    prefix they share, unlinked afterwards."""
    from support import posix_name

    from unixipc import posix

    made = [posix.Semaphore(posix_name("compsem"), exclusive=True),
            posix.SharedMemory(posix_name("compshm"), 8, exclusive=True)]
    try:
        names = [m.name for m in made]
        yield names, os.path.commonprefix(names)
    finally:
        for m in made:
            m.unlink()
            m.close()


def test_bash_completion(ipc_tracker, cli, posix_names):
    q = ipc_tracker.ipcmk("-Q")
    s = ipc_tracker.ipcmk("-S", "1")
    key = next(line.split()[0] for line in cli("ls", "-q").out.splitlines()
               if line.split()[1:2] == [str(q)])
    r = cli("completion", "bash")
    assert r.status == 0 and "complete -F _unixipc unixipc" in r.out
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    names, prefix = posix_names
    done = subprocess.run(["bash", "--norc", "-c", BASH_DRIVER, "driver", prefix],
                          capture_output=True, text=True, timeout=60, env=env)
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
    assert lines[12] == ["bash", "zsh"]
    assert set(names) <= set(lines[13]) and set(names) <= set(lines[14])  # POSIX /names


def _need_zsh() -> str:
    """zsh's path. Without zsh: a failure in CI (CI=true: .ci/run must
    install it, the Debian package zsh), a skip elsewhere."""
    found = shutil.which("zsh")
    if found:
        return found
    why = "zsh is not installed (apt-get install zsh)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: CI must install it for the zsh completion tests")
    pytest.skip(why)


def test_zsh_completion_script_parses(cli):
    zsh = _need_zsh()
    r = cli("completion", "zsh")
    assert r.status == 0 and r.out.startswith("#compdef unixipc\n")
    assert "bashcompinit" not in r.out  # a native zsh function
    done = subprocess.run([zsh, "-n", "-c", r.out], capture_output=True, timeout=60,
                          env=_TOOLS_ENV)
    assert done.returncode == 0, done.stderr


#: Sourced by an interactive zsh in a pseudo-terminal (zpty): compinit with
#: the generated _unixipc first on fpath, and a compadd that also writes
#: every match it adds to $ZT_OUT; ^T completes the line and then shows a
#: marker, so the driver knows when the completion is over.
ZSH_SETUP = r'''
PS1='' PROMPT='' RPROMPT='' PS2=''
unsetopt AUTO_LIST LIST_AMBIGUOUS AUTO_MENU MENU_COMPLETE
setopt NO_BEEP
fpath=($ZT_DIR $fpath)
autoload -Uz compinit && compinit -u -D
compadd() {
  local a
  for a in "$@"; do
    [[ $a == (-|--) ]] && break
    [[ $a == -[OAD]* ]] && { builtin compadd "$@"; return; }
  done
  local -a __zt_found  # a name no caller's -a ARRAY can have
  builtin compadd -A __zt_found "$@"
  (( $#__zt_found )) && print -rl -- $__zt_found >> $ZT_OUT
  builtin compadd "$@"
}
_zt_complete() { zle complete-word; zle -M "@@zt""-done@@" }
zle -N _zt_complete
bindkey '^T' _zt_complete
print "@@zt""-ready@@"
'''

#: zsh -f driver.zsh DIR LINE...: types each LINE and ^T into the
#: interactive zsh, and prints the matches offered, one line per LINE.
ZSH_DRIVER = r'''
zmodload zsh/zpty || exit 3
export ZT_DIR=$1 ZT_OUT=$1/out; shift
zpty z zsh -f -i
zpty -w z "source ${(q)ZT_DIR}/setup.zsh"
zpty -r z junk '*@@zt-ready@@*'
for line in "$@"; do
  : >| $ZT_OUT
  zpty -w -n z "$line"$'\C-t'
  zpty -r z junk '*@@zt-done@@*'
  print -r -- "${(j: :)${(f)"$(<$ZT_OUT)"}}"
  zpty -w -n z $'\C-e\C-u'
done
zpty -d z
'''


def test_zsh_completes_in_zsh(ipc_tracker, cli, tmp_path, posix_names):
    """The generated function, loaded by compinit as zsh loads it from
    fpath, and driven through zpty by Tab presses in a real interactive
    zsh: commands (and msg's other name mq), actions, options, option
    choices, and the ids and keys of the objects that exist."""
    zsh = _need_zsh()
    q = ipc_tracker.ipcmk("-Q")
    s = ipc_tracker.ipcmk("-S", "1")
    key = next(line.split()[0] for line in cli("ls", "-q").out.splitlines()
               if line.split()[1:2] == [str(q)])
    (tmp_path / "_unixipc").write_text(cli("completion", "zsh").out)
    (tmp_path / "setup.zsh").write_text(ZSH_SETUP)
    (tmp_path / "driver.zsh").write_text(ZSH_DRIVER)
    lines = ["unixipc ", "unixipc m", "unixipc msg ", "unixipc mq recv --fo",
             "unixipc ls --time-format ", "unixipc ls --ti", "unixipc msg recv ",
             "unixipc stat -s ", "unixipc rm -q ", "unixipc rm -Q ", "unixipc tour --only ",
             "unixipc completion ", f"unixipc stat {posix_names[1]}", "unixipc rm --posix "]
    # zsh is a tool like groff: it runs without the asan leg's LD_PRELOAD,
    # and the unixipc it calls for live ids gets the preload back (the
    # sanitized extension loads only with the sanitizer's runtime first)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    real = os.path.join(os.path.dirname(sys.executable), "unixipc")
    preload = os.environ.get("LD_PRELOAD")
    prefix = f"LD_PRELOAD={shlex.quote(preload)} " if preload else ""
    (bindir / "unixipc").write_text(f'#!/bin/sh\n{prefix}exec {shlex.quote(real)} "$@"\n')
    (bindir / "unixipc").chmod(0o755)
    env = dict(_TOOLS_ENV, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run([zsh, "-f", str(tmp_path / "driver.zsh"), str(tmp_path), *lines],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    got = [set(line.split()) for line in done.stdout.splitlines()]
    assert len(got) == len(lines), done.stdout
    assert got[0] == set(COMMANDS) | {"mq"}
    assert got[1] == {"mk", "msg", "mq", "man"}
    assert got[2] == {"send", "recv"}
    assert got[3] == {"--follow"}
    assert got[4] == {"short", "full", "iso"}
    assert got[5] == {"--time", "--time-format", "--ticks"}
    assert str(q) in got[6] and not any(w.startswith("-") for w in got[6])
    assert str(s) in got[7] and str(q) not in got[7] or str(s) == str(q)
    assert str(q) in got[8]
    assert key in got[9]
    assert {"pipe", "popen", "coproc"} <= got[10]
    assert got[11] == {"bash", "zsh"}
    assert set(posix_names[0]) <= got[12] and set(posix_names[0]) <= got[13]  # POSIX /names


#: What setup.py installs (data_files, under the prefix's share/), and the
#: command each is the output of.
INSTALLED = {"share/man/man1/unixipc.1": ["man"],
             "share/bash-completion/completions/unixipc": ["completion", "bash"],
             "share/zsh/site-functions/_unixipc": ["completion", "zsh"]}


def _undated(text: str) -> str:
    """A page without its .TH line's date (the day it was generated)."""
    return "\n".join(line if not line.startswith(".TH ") else line.split('"')[0] + '"' +
                     line.split('"', 2)[2] for line in text.splitlines())


@pytest.mark.parametrize("path", INSTALLED)
def test_installed_files_are_current(cli, path):
    """The man page and completions shipped in the wheel are what the
    commands print now: regenerate them with scripts/cli-data after a
    change of options."""
    from pathlib import Path

    shipped = (Path(__file__).resolve().parents[2] / path).read_text()
    assert _undated(shipped) == _undated(cli(*INSTALLED[path]).out), (
        f"{path} is stale: run scripts/cli-data")
