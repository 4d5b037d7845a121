"""Run the unixipc command in-process with captured streams."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest

from unixipc.cli import Environment, main


@dataclass
class CliResult:
    status: int
    out: str
    err: str
    raw: bytes


@pytest.fixture
def cli():
    """cli(*argv, stdin=b"", tty=False) -> CliResult (status, out, err, raw)."""

    def run(*argv: str, stdin: bytes = b"", tty: bool = False) -> CliResult:
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

    return run
