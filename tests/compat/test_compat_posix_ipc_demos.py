"""posix_ipc's demos (from its 1.3.2 sdist), run unchanged with
unixipc.compat.posix_ipc standing in for the package:

- demo1, Mrs. Premise and Mrs. Conclusion over a semaphore and shared
  memory, in every pairing of its Python and C programs;
- demo2, the same conversation over a message queue (shim with shim, and
  the shim with the real package on the other side);
- demo3, message queue notifications by signal and by thread, one-shot
  and re-armed, typed in on stdin;
- demo4, a semaphore as a context manager between a parent and the child
  it spawns;
- demo5, a queue watched with ``selectors``.

Only the configuration is rewritten: demo1's and demo2's params.txt (names
of each run's own, so runs go side by side, and fewer iterations). demo3's
and demo5's queue names are fixed in their code: POSIX queues belong to
the IPC namespace, so they run as shipped, one at a time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import pytest

import unixipc.compat.posix_ipc as shim_module
from compat_sdist import (POSIX_IPC, converse, demo_log, plain_env, sdist, shim_dir,
                          start_demo, unpack)
from support import posix_name, wait_until

pytestmark = pytest.mark.timeout(300)

ITERATIONS = 100
#: demo1's: its three pairings run at once, each printing at every turn.
DEMO1_ITERATIONS = 40


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack(sdist(POSIX_IPC), tmp_path_factory.mktemp("posix_ipc_demos")) / "demos"


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shim_dir(tmp_path_factory.mktemp("shim"), POSIX_IPC)


def _copy(source: Path, into: Path, **params: str) -> Path:
    """The demo in ``into``, with params.txt's values replaced by ``params``."""
    shutil.copytree(source, into)
    params.setdefault("ITERATIONS", str(ITERATIONS))
    lines = []
    for line in (into / "params.txt").read_text().splitlines():
        key = line.split("=")[0]
        lines.append(f"{key}={params[key]}" if "=" in line and key in params else line)
    (into / "params.txt").write_text("\n".join(lines) + "\n")
    return into


def _unlinked(*removers: tuple[Callable[[str], None], str]) -> Callable[[], None]:
    """A cleanup that removes these names if a failed run left them."""
    def cleanup() -> None:
        for remove, name in removers:
            try:
                remove(name)
            except shim_module.ExistentialError:
                pass
    return cleanup


@pytest.fixture(scope="module")
def built(demos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """demo1's premise and conclusion, the C programs, built once."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler: the C half of demo1 needs one")
    out = tmp_path_factory.mktemp("demo1_c")
    src = demos / "demo1"
    for program in ("premise", "conclusion"):
        subprocess.run([cc, "-w", "-o", str(out / program), str(src / f"{program}.c"),
                        str(src / "md5.c"), str(src / "utils.c"), "-lrt", "-lpthread"],
                       check=True, timeout=120, env=plain_env())
    return out


def test_demo1_semaphore_and_shared_memory_in_every_pairing(
        demos: Path, shim: Path, built: Path, tmp_path: Path,
        demo4_run: Future[tuple[int, str]]) -> None:
    """The three pairings at once: each ends with Mrs. Premise's 5-second
    pause, which need not be waited three times (demo4, which mostly
    sleeps too, runs meanwhile: ``demo4_run``)."""
    pairings = [("premise.py", "conclusion.py"), ("premise.py", "conclusion"),
                ("premise", "conclusion.py")]

    def run(pairing: tuple[str, str]) -> tuple[str, str, str, str]:
        premise, conclusion = pairing
        sem, mem = posix_name("demo1-sem"), posix_name("demo1-shm")
        here = _copy(demos / "demo1", tmp_path / f"{premise}-{conclusion}",
                     SEMAPHORE_NAME=sem, SHARED_MEMORY_NAME=mem,
                     ITERATIONS=str(DEMO1_ITERATIONS))
        _, _, out1, out2 = converse(
            here, shim, premise, conclusion, lambda: os.path.exists(f"/dev/shm/sem.{sem[1:]}"),
            _unlinked((shim_module.unlink_semaphore, sem),
                      (shim_module.unlink_shared_memory, mem)), built=built)
        return sem, mem, out1, out2

    with ThreadPoolExecutor(len(pairings)) as pool:
        results = list(pool.map(run, pairings))
    for (premise, conclusion), (sem, mem, out1, out2) in zip(pairings, results):
        # Both exited 0 (converse checks); the Python programs count out loud.
        for program, out in ((premise, out1), (conclusion, out2)):
            if program.endswith(".py"):
                assert f"{DEMO1_ITERATIONS} iterations complete" in out, (program,
                                                                          out[-2000:])
        assert "corruption" not in (out1 + out2).lower()
        assert not os.path.exists(f"/dev/shm/sem.{sem[1:]}")
        assert not os.path.exists(f"/dev/shm{mem}")


def _queue_exists(name: str) -> bool:
    try:
        shim_module.MessageQueue(name).close()
    except shim_module.ExistentialError:
        return False
    return True


@pytest.mark.parametrize("premise_shim,conclusion_shim", [(True, True), (True, False),
                                                           (False, True)])
def test_demo2_message_queue_conversation(demos: Path, shim: Path, tmp_path: Path,
                                          premise_shim: bool, conclusion_shim: bool) -> None:
    name = posix_name("demo2")
    here = _copy(demos / "demo2", tmp_path / "demo2", MESSAGE_QUEUE_NAME=name)
    premise = start_demo("premise.py", here, shim if premise_shim else None)
    conclusion = None
    try:
        wait_until(lambda: _queue_exists(name) or premise.poll() is not None, timeout=20)
        conclusion = start_demo("conclusion.py", here, shim if conclusion_shim else None)
        assert conclusion.wait(timeout=120) == 0, demo_log(here, "conclusion.py")[-3000:]
        assert premise.wait(timeout=120) == 0, demo_log(here, "premise.py")[-3000:]
    finally:
        for proc in (premise, conclusion):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        _unlinked((shim_module.unlink_message_queue, name))()
    assert f"{ITERATIONS} iterations complete" in demo_log(here, "premise.py")
    assert f"{ITERATIONS} iterations complete" in demo_log(here, "conclusion.py")
    assert not _queue_exists(name)


#: demo3's and demo5's queues, named in their code.
DEMO3_QUEUE = "/my_message_queue"
DEMO5_QUEUE = "/python_ipc_test"


@pytest.mark.parametrize("program,lines", [
    ("one_shot_signal.py", ["hello"]), ("one_shot_thread.py", ["hello"]),
    ("repeating_signal.py", ["first", "second", "third"]),
    ("repeating_thread.py", ["first", "second", "third"])])
def test_demo3_notifications(demos: Path, shim: Path, tmp_path: Path, program: str,
                             lines: list[str]) -> None:
    """Each line is typed once the previous one's notification was seen
    (the demo re-arms in the handler; a line typed before that would not
    be notified, with the real package too)."""
    assert not _queue_exists(DEMO3_QUEUE), f"{DEMO3_QUEUE} exists: not ours to remove"
    here = tmp_path / "demo3"
    shutil.copytree(demos / "demo3", here)
    proc = start_demo(program, here, shim, env={"PYTHONUNBUFFERED": "1"},
                      stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for n, line in enumerate(lines, 1):
            wait_until(lambda: demo_log(here, program).count("Enter a message") >= n, 20)
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            wait_until(lambda: demo_log(here, program).count("Ding!") >= n, 20)
        if program.startswith("repeating"):
            wait_until(lambda: demo_log(here, program).count("Enter a message") > len(lines),
                       20)
            proc.stdin.write(b"\n")  # a blank line ends it
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, demo_log(here, program)[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _unlinked((shim_module.unlink_message_queue, DEMO3_QUEUE))()
    out = demo_log(here, program)
    for line in lines:
        assert f"Ding! Message with priority 0 received: b'{line}'" in out, out
    assert "Destroying the message queue." in out
    assert not _queue_exists(DEMO3_QUEUE)


def _demo4_bin(tmp: Path) -> Path:
    """A directory whose ``python`` is this interpreter (a script, not a
    symlink: the venv is found from the path run). Written before any
    thread of the module's starts children: an executable being written
    while another thread forks cannot be run (ETXTBSY) until that child
    closes its copy of the descriptor."""
    bindir = tmp / "bin"
    bindir.mkdir()
    wrapper = bindir / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return bindir


def _run_demo4(demos: Path, shim: Path, tmp: Path, bindir: Path) -> tuple[int, str]:
    """parent.py starts ``python child.py NAME``: ``python`` is this
    interpreter here (``bindir``), and the child finds the shim as the
    parent does. Its exit status and output."""
    here = tmp / "demo4"
    shutil.copytree(demos / "demo4", here)
    path = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    parent = start_demo("parent.py", here, shim, env={"PATH": path, "PYTHONUNBUFFERED": "1"})
    try:
        status = parent.wait(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    return status, demo_log(here, "parent.py")


@pytest.fixture(scope="module")
def demo4_run(demos: Path, shim: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Future[tuple[int, str]]]:
    """demo4, started in the background by the first test that asks (demo1's
    too, so the two overlap): it mostly sleeps (the child holds the
    semaphore 3 s, the parent pauses 1 s twice). Its semaphore has a name
    of posix_ipc's making, no other demo's; test_demo4 checks the run."""
    tmp = tmp_path_factory.mktemp("demo4")
    bindir = _demo4_bin(tmp)
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(_run_demo4, demos, shim, tmp, bindir)


def test_demo4_semaphore_as_a_context_manager(demo4_run: Future[tuple[int, str]]) -> None:
    status, out = demo4_run.result(timeout=120)
    assert status == 0, out[-3000:]
    assert "Child: semaphore /" in out and "aquired" in out, out
    assert "Parent: destroying the semaphore." in out
    name = out.split("Parent: created semaphore ")[1].split(".\n")[0]
    with pytest.raises(shim_module.ExistentialError):
        shim_module.Semaphore(name)  # the parent unlinked it, as the demo says


def test_demo5_selectors(demos: Path, shim: Path, tmp_path: Path) -> None:
    assert not _queue_exists(DEMO5_QUEUE), f"{DEMO5_QUEUE} exists: not ours to remove"
    here = tmp_path / "demo5"
    shutil.copytree(demos / "demo5", here)
    listener = start_demo("listener.py", here, shim, env={"PYTHONUNBUFFERED": "1"})
    try:
        wait_until(lambda: "Listening..." in demo_log(here, "listener.py"), 20)
        transmitter = start_demo("transmitter.py", here, shim)
        assert transmitter.wait(timeout=60) == 0, demo_log(here, "transmitter.py")
        assert listener.wait(timeout=60) == 0, demo_log(here, "listener.py")
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
        _unlinked((shim_module.unlink_message_queue, DEMO5_QUEUE))()
    out = demo_log(here, "listener.py")
    assert "Message:  b'From transmitter'" in out and "Priority:  0" in out, out
    assert not _queue_exists(DEMO5_QUEUE)
