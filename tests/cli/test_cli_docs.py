"""docs/cli.md's transcripts are real: every block marked
``<!-- transcript -->`` (optionally ``<!-- transcript: SETUP -->``, shell
commands run first, their output not shown) is run line by line in a fresh
IPC namespace, and each command's output (stdout and stderr, as a terminal
would interleave them; here through a pipe) must be the one shown. In the
page, ``…`` stands for what differs between runs (pids, times, paths); a
line ending in ``…`` is compared up to there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
MARK = re.compile(r"^<!-- transcript(?::\s*(.*?))?\s*-->$")
END = "@@end-of-command@@"


@dataclass
class Transcript:
    line: int
    setup: str
    steps: list[tuple[str, list[str]]] = field(default_factory=list)


def transcripts(text: str) -> list[Transcript]:
    found = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = MARK.match(line.strip())
        if not m:
            continue
        assert lines[i + 1].startswith("```"), f"docs/cli.md:{i + 1}: a fence must follow"
        t = Transcript(i + 1, m.group(1) or "")
        for body in lines[i + 2:]:
            if body.startswith("```"):
                break
            if body.startswith("$ "):
                t.steps.append((body[2:], []))
            else:
                assert t.steps, f"docs/cli.md:{i + 1}: output before any command"
                t.steps[-1][1].append(body)
        found.append(t)
    return found


def _matches(expected: str, got: str) -> bool:
    if expected == got:
        return True
    if "…" not in expected:
        return False
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    if expected.endswith("…"):
        return re.match(pattern, got) is not None
    return re.fullmatch(pattern, got) is not None


def run_transcript(t: Transcript, cwd: Path) -> list[list[str]]:
    script = ["set +e", f"{{ {t.setup}\n}} >/dev/null 2>&1" if t.setup else ":"]
    for command, _ in t.steps:
        script.append(f"{{ {command}\n}} 2>&1; __s=$?; printf '\\n{END}\\n'; (exit $__s)")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env.update(PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
               COLUMNS="80", LC_ALL="C.UTF-8", TZ="UTC")
    done = subprocess.run(["unshare", "--ipc", "bash", "-c", "\n".join(script)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    assert done.stderr == "", done.stderr
    outputs = done.stdout.split(f"\n{END}\n")
    assert outputs[-1] == ""
    return [out.splitlines() for out in outputs[:-1]]


ALL = transcripts(DOC.read_text())


def test_the_page_has_transcripts():
    assert len(ALL) >= 8
    commands = " ".join(c for t in ALL for c, _ in t.steps)
    for needed in ("unixipc msg recv", "unixipc ls", "unixipc stat", "unixipc rm",
                   "unixipc mk", "unixipc sem", "unixipc shm", "unixipc ftok", "unixipc tour"):
        assert needed in commands, needed


def _runnable_by_nobody() -> bool:
    """Whether this interpreter starts as uid 65534 (not when it lives under
    a home directory that user cannot enter, as pyenv's in /root do)."""
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           sys.executable, "-c", "pass"], capture_output=True, timeout=60)
    return done.returncode == 0


@pytest.mark.timeout(180)
@pytest.mark.parametrize("t", ALL, ids=[f"line{t.line}" for t in ALL])
def test_transcript(t, tmp_path):
    if any(c.startswith("setpriv ") for c, _ in t.steps) and not _runnable_by_nobody():
        pytest.skip(f"{sys.executable} cannot be started by uid 65534 here (its directory "
                    "is closed to that user); a system interpreter runs this block")
    outputs = run_transcript(t, tmp_path)
    assert len(outputs) == len(t.steps)
    for (command, expected), got in zip(t.steps, outputs):
        ok = len(expected) == len(got) and all(map(_matches, expected, got))
        assert ok, (f"docs/cli.md, block at line {t.line}: $ {command}\n"
                    f"expected:\n" + "\n".join(expected) + "\ngot:\n" + "\n".join(got))
