"""msg recv keeps message boundaries through a pipe (--json, -0, --lines),
ends when its reader does (--follow | head -2), and never sends a
message's control bytes to a terminal unescaped (issue 13)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

import unixipc
from unixipc.cli import ExitStatus
from unixipc.cli.output import escape_bytes

UNIXIPC = [sys.executable, "-m", "unixipc"]


@pytest.fixture
def queue(ipc_tracker):
    mq = unixipc.MessageQueue(create=True)
    ipc_tracker.track("msg", mq.id)
    return mq


def test_json_lines_text_and_base64(any_cli, queue):
    queue.send(b"aaa", type=3)
    queue.send(b"\x00\xffbin", type=1)
    queue.send("süß\n".encode(), type=2)
    r = any_cli("msg", "recv", str(queue.id), "--count", "3", "--json")
    assert r.status == 0, r.err
    lines = [json.loads(line) for line in r.out.splitlines()]
    assert lines[0] == {"type": 3, "size": 3, "encoding": "text", "data": "aaa"}
    assert lines[1] == {"type": 1, "size": 5, "encoding": "base64",
                        "data": base64.b64encode(b"\x00\xffbin").decode()}
    assert lines[2] == {"type": 2, "size": 6, "encoding": "text", "data": "süß\n"}


@pytest.mark.parametrize("flag,sep", [("-0", b"\0"), ("--null", b"\0"), ("--lines", b"\n")])
def test_null_and_line_separators(any_cli, queue, flag, sep):
    queue.send(b"aaa")
    queue.send(b"bbb")
    r = any_cli("msg", "recv", str(queue.id), "--count", "2", flag)
    assert r.status == 0 and r.raw == b"aaa" + sep + b"bbb" + sep


def test_raw_by_default_into_a_pipe(queue):
    queue.send(b"aaa")
    queue.send(b"bbb")
    done = subprocess.run(UNIXIPC + ["msg", "recv", str(queue.id), "--count", "2"],
                          capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout == b"aaabbb"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("queued", [2, 5])
def test_follow_into_head_ends_after_two_messages(queue, queued):
    """With 5 queued the third write fails (EPIPE); with 2 queued nothing more
    comes, and the command must notice that its reader is gone while it
    waits. Either way it ends quietly with 141 (not killed by SIGPIPE)."""
    for i in range(queued):
        queue.send(f"m{i + 1}".encode())
    script = (" ".join(UNIXIPC) + f" msg recv {queue.id} --follow --lines | head -2; "
              "echo status ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", script], capture_output=True, timeout=30)
    assert done.stdout == b"m1\nm2\nstatus 141\n"
    assert done.stderr == b""


def test_terminal_shows_control_bytes_escaped(cli, queue):
    evil = b"\x1b]0;owned\x07\x1b[2J\x1b[31mred\rX\x9b\xff\n\\"
    queue.send(evil)
    r = cli("msg", "recv", str(queue.id), tty=True)
    assert r.status == 0
    assert r.out == "1\t\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred\\rX\\x9b\\xff\\n\\\\\n"
    assert "\x1b" not in r.out and "\x07" not in r.out and "\r" not in r.out
    # printable text, accents included, stays as it is
    queue.send("héllo wörld".encode())
    assert cli("msg", "recv", str(queue.id), tty=True).out == "1\théllo wörld\n"
    # C1 controls as characters (U+009B, CSI) and zero-width ones are escaped too
    queue.send("a\u009bb\u200bc".encode())
    assert cli("msg", "recv", str(queue.id), tty=True).out == "1\ta\\x9bb\\u200bc\n"


def test_raw_flag_writes_bytes_even_on_a_terminal(cli, queue):
    queue.send(b"\x1b[31mred")
    r = cli("msg", "recv", str(queue.id), "--raw", tty=True)
    assert r.status == 0 and r.raw == b"\x1b[31mred"


def test_escape_bytes():
    assert escape_bytes(b"plain") == "plain"
    assert escape_bytes(b"\t\n\r\\") == "\\t\\n\\r\\\\"
    assert escape_bytes(b"\x00\x7f") == "\\x00\\x7f"
    assert escape_bytes(b"\xe2\x82") == "\\xe2\\x82"  # a cut UTF-8 sequence
    assert escape_bytes("\U0001F600".encode()) == "\U0001F600"  # printable


def test_shm_dump_json(any_cli, ipc_tracker):
    ident = ipc_tracker.ipcmk("-M", "64")
    seg = unixipc.SharedMemory.from_id(ident)
    seg.write(b"hi\x00\xff", offset=4)
    seg.detach()
    r = any_cli("shm", "dump", str(ident), "--offset", "4", "--length", "4", "--json")
    assert r.status == 0, r.err
    assert json.loads(r.out) == {"id": ident, "offset": 4, "size": 4, "encoding": "base64",
                                 "data": base64.b64encode(b"hi\x00\xff").decode()}


def test_negative_type_is_still_a_value_beside_the_0_option(cli, queue):
    queue.send(b"five", type=5)
    queue.send(b"two", type=2)
    r = cli("msg", "recv", str(queue.id), "--type", "-3", "-0")
    assert r.status == 0, r.err
    assert r.raw == b"two\0"
