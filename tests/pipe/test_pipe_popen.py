"""popen/pclose: /bin/sh -c, wait status like C, close-on-exec between popens."""

from __future__ import annotations

import io
import os

import pytest

import unixipc
from support import wait_blocked
from unixipc import pclose, popen


def test_read_from_a_command():
    f = popen("echo hello; echo world")
    assert f.read() == b"hello\nworld\n"
    assert pclose(f) == 0


def test_write_to_a_command(tmp_path):
    out = tmp_path / "out.txt"
    f = popen(f"cat > '{out}'", "w")
    f.write(b"line 1\nline 2\n")
    assert pclose(f) == 0
    assert out.read_bytes() == b"line 1\nline 2\n"


def test_exit_code_is_a_raw_wait_status():
    f = popen("exit 3")
    assert f.read() == b""
    status = pclose(f)
    assert status == 3 << 8
    assert os.waitstatus_to_exitcode(status) == 3


def test_killed_by_a_signal():
    f = popen("kill -TERM $$")
    status = pclose(f)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 15


def test_runs_through_sh_dash_c():
    with popen("echo $0; echo \"$(basename \"$(readlink /proc/$$/exe)\")\"") as f:
        lines = f.read().split()
    assert lines[0] == b"sh"


def test_text_mode():
    f = popen("printf 'caf\\303\\251\\n'", "r", encoding="utf-8")
    assert f.readline() == "café\n"
    assert pclose(f) == 0
    g = popen("cat > /dev/null", "w", encoding="utf-8")
    g.write("text\n")
    assert pclose(g) == 0


def test_pclose_of_something_else_is_a_clear_error(tmp_path):
    with open(tmp_path / "x", "wb") as plain:
        with pytest.raises(TypeError, match="popen"):
            pclose(plain)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pclose(io.BytesIO())  # type: ignore[arg-type]
    f = popen("true")
    assert pclose(f) == 0
    with pytest.raises(ValueError, match="already closed"):
        pclose(f)


@pytest.mark.parametrize("mode", ["rw", "a", "", "r+"])
def test_bad_mode_is_refused_before_running_anything(mode):
    with pytest.raises(ValueError):
        popen("true", mode)  # type: ignore[arg-type]


def test_bad_command_type():
    with pytest.raises(TypeError):
        popen(["echo", "x"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        popen("echo \0")


def _pipe_inode(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_popen_children_do_not_inherit_earlier_popen_pipes():
    first = popen("cat > /dev/null", "w")
    second = popen("read x", "w")  # waits on its stdin
    try:
        mine = _pipe_inode(first.fileno())
        wait_blocked(second.pid)
        held = [os.readlink(f"/proc/{second.pid}/fd/{n}")
                for n in os.listdir(f"/proc/{second.pid}/fd")]
        assert any(link.startswith("pipe:") for link in held)
        assert mine not in held
        assert pclose(first) == 0  # cat saw EOF: nobody else holds its stdin
    finally:
        second.write(b"\n")
        assert pclose(second) == 0


def test_writing_to_a_command_that_exited():
    f = popen("exit 0", "w")
    os.waitid(os.P_PID, f.pid, os.WEXITED | os.WNOWAIT)
    with pytest.raises(BrokenPipeError):
        f.write(b"x" * 100_000)
    assert pclose(f) == 0


def test_iteration_and_context_manager():
    with popen("printf 'a\\nb\\n'") as f:
        assert list(f) == [b"a\n", b"b\n"]
    assert f.closed
    assert unixipc.PopenFile is type(f)


def _ignored_signals(status: bytes) -> int:
    line = next(ln for ln in status.splitlines() if ln.startswith(b"SigIgn:"))
    return int(line.split()[1], 16)


def test_the_command_starts_with_sigpipe_at_its_default_action(tmp_path):
    import signal
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # Python's own setting
    with popen("cat /proc/self/status") as f:
        ignored = _ignored_signals(f.read())
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGXFSZ - 1))
    # So a writer whose reader went away ends quietly, as in a shell.
    err = tmp_path / "err"
    f = popen(f"yes 2>'{err}' | head -n 1")
    assert f.read() == b"y\n"
    assert pclose(f) == 0
    assert err.read_bytes() == b""
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # ours unchanged
