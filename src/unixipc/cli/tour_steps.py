"""The steps of ``unixipc tour``: one function per mechanism.

Each step does something real between processes with the public API, says
what it did (``ctx.say``), states the rule it shows (``ctx.rule``) and checks
that the rule held (``ctx.check``). Whatever it creates is registered with
``ctx.defer`` so it is removed even when the tour is interrupted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .environment import Environment


class CheckFailed(Exception):
    """A rule the tour demonstrates did not hold."""


class TourContext:
    """What a step gets: output, checks, a private directory, cleanup."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.tmpdir = ""
        self._cleanups: list[Callable[[], Any]] = []

    def __enter__(self) -> "TourContext":
        self.tmpdir = tempfile.mkdtemp(prefix="unixipc-tour-")
        return self

    def __exit__(self, *exc: object) -> None:
        self._run_cleanups()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    @contextlib.contextmanager
    def step_scope(self) -> Iterator[None]:
        """Clean up what a step deferred as soon as the step ends."""
        try:
            yield
        finally:
            self._run_cleanups()

    def _run_cleanups(self) -> None:
        # Ctrl-C during cleanup must not leave the rest undone.
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            while self._cleanups:
                fn = self._cleanups.pop()
                with contextlib.suppress(Exception):
                    fn()
        finally:
            signal.signal(signal.SIGINT, old)

    def defer(self, fn: Callable[[], Any]) -> None:
        """Run fn when the step ends (LIFO), whatever happens."""
        self._cleanups.append(fn)

    def fork(self, child: Callable[[], Any]) -> int:
        """Fork a child that runs ``child()`` and exits (status 0, or 1 if it
        raised); it is killed and reaped at cleanup if still around."""
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                child()
                code = 0
            finally:
                os._exit(code)

        def reap() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

        self.defer(reap)
        return pid

    def wait(self, pid: int) -> int:
        """Wait for a child forked with ``fork``; its exit code."""
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def path(self, name: str) -> str:
        return os.path.join(self.tmpdir, name)

    def say(self, text: str) -> None:
        self.env.out(f"  - {text}")

    def rule(self, text: str) -> None:
        self.env.out("  " + self.env.color("rule:", "36") + f" {text}")

    def check(self, condition: object, what: str) -> None:
        if not condition:
            raise CheckFailed(what)


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: Callable[[TourContext], None]


def step_ftok(ctx: TourContext) -> None:
    from .. import ftok
    from ..keys import format_key

    anchor = ctx.path("anchor")
    open(anchor, "w").close()
    key = ftok(anchor, 65)
    ctx.say(f"ftok({anchor!r}, 65) = {format_key(key)}")
    r, w = os.pipe()
    ctx.defer(lambda: os.close(r))
    pid = ctx.fork(lambda: os.write(w, str(ftok(anchor, 65)).encode()))
    os.close(w)
    child_key = int(os.read(r, 64))
    ctx.wait(pid)
    ctx.say(f"a child process computes {format_key(child_key)} from the same file and id")
    ctx.check(child_key == key, "the child's key differs")
    other = ftok(anchor, 66)
    ctx.say(f"project id 66 gives {format_key(other)}")
    ctx.check(other != key, "different project ids gave the same key")
    ctx.rule("the same file and project id give every process the same key; "
             "the key is built from the file's inode and device and the id's low 8 bits.")


STEPS: list[Step] = [
    Step("ftok", "System V keys: ftok", step_ftok),
]
