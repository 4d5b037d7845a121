"""Run the unixipc command in-process with captured streams, or as a
subprocess (``python -m unixipc``), with one calling convention."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

import pytest

from unixipc.cli import Environment, main


@dataclass
class CliResult:
    status: int
    out: str
    err: str
    raw: bytes


def run_in_process(*argv: str, stdin: bytes = b"", tty: bool = False) -> CliResult:
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out_bytes, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err_bytes, encoding="utf-8", write_through=True)
    stdin_stream = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    env = Environment(stdin=stdin_stream, stdout=stdout, stderr=stderr,
                      stdout_isatty=tty, colors=False)
    status = main(list(argv), env)
    stdout.flush()
    raw = out_bytes.getvalue()
    return CliResult(int(status), raw.decode("utf-8", "replace"),
                     err_bytes.getvalue().decode(), raw)


def run_subprocess(*argv: str, stdin: bytes = b"", tty: bool = False) -> CliResult:
    if tty:
        raise ValueError("a subprocess run has pipes, not a terminal")
    done = subprocess.run([sys.executable, "-m", "unixipc", *argv], input=stdin,
                          capture_output=True, timeout=120)
    return CliResult(done.returncode, done.stdout.decode("utf-8", "replace"),
                     done.stderr.decode(), done.stdout)


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt during these tests, and commands they
    start get its default action, as in an interactive shell: a run started
    in the background of a non-interactive shell inherits SIGINT ignored."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """cli(*argv, stdin=b"", tty=False) -> CliResult (status, out, err, raw),
    run in-process with injected streams."""
    return run_in_process


@pytest.fixture(params=["in-process", "subprocess"])
def any_cli(request: pytest.FixtureRequest) -> Callable[..., CliResult]:
    """Like ``cli``, once in-process and once as ``python -m unixipc``
    (pipes for its standard streams)."""
    return run_in_process if request.param == "in-process" else run_subprocess
