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

from .._fork import fork_call
from .._timeouts import Deadline
from .environment import Environment


class CheckFailed(Exception):
    """A rule the tour demonstrates did not hold."""


class TourContext:
    """What a step gets: output, checks, a private directory, cleanup."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.tmpdir = ""
        self._cleanups: list[Callable[[], Any]] = []
        #: With ``tour --json``: what the current step said and the rules it
        #: showed, collected instead of printed.
        self.said: list[str] | None = None
        self.rules: list[str] | None = None

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
        pid = fork_call(child)

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
        if self.said is not None:
            self.said.append(text)
            return
        self.env.out(f"  - {text}")

    def rule(self, text: str) -> None:
        if self.rules is not None:
            self.rules.append(text)
            return
        self.env.out("  " + self.env.color("rule:", "36") + f" {text}")

    def check(self, condition: object, what: str) -> None:
        if not condition:
            raise CheckFailed(what)


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: Callable[[TourContext], None]


def step_pipe(ctx: TourContext) -> None:
    from .. import PIPE_BUF, Pipe

    pipe = Pipe()
    ctx.defer(pipe.close)
    ctx.say(f"a pipe holds {pipe.capacity} bytes before a writer blocks (F_GETPIPE_SZ)")

    def child() -> None:
        pipe.reader.close()
        pipe.writer.write(b"hello through the kernel")
        pipe.writer.close()

    pid = ctx.fork(child)
    pipe.writer.close()
    data = pipe.reader.readall(timeout=10)
    ctx.check(ctx.wait(pid) == 0, "the writer child failed")
    ctx.say(f"the parent read {data!r}, then b'' once the only writer had closed")
    ctx.check(data == b"hello through the kernel", "the data changed on the way")
    ctx.rule("read returns end of file (b'') only when every write end is closed; "
             "until then it blocks.")

    pipe = Pipe()
    ctx.defer(pipe.close)
    writers, records = 4, 200
    pids = []
    for letter in b"ABCD"[:writers]:
        record = bytes([letter]) * PIPE_BUF

        def writer(record: bytes = record) -> None:
            pipe.reader.close()
            for _ in range(records):
                pipe.writer.write_record(record)

        pids.append(ctx.fork(writer))
    pipe.writer.close()
    data = pipe.reader.readall(timeout=30)
    for pid in pids:
        ctx.wait(pid)
    chunks = [data[i:i + PIPE_BUF] for i in range(0, len(data), PIPE_BUF)]
    intact = sum(1 for c in chunks if c == c[:1] * PIPE_BUF)
    ctx.say(f"{writers} processes wrote {records} records of PIPE_BUF={PIPE_BUF} bytes each "
            f"into one pipe: {intact} of {len(chunks)} arrived whole")
    ctx.check(len(chunks) == writers * records and intact == len(chunks),
              "records of PIPE_BUF bytes were interleaved")
    ctx.rule(f"a write of at most PIPE_BUF ({PIPE_BUF}) bytes to a pipe is atomic: "
             "concurrent writers never interleave inside it.")

    pipe = Pipe()
    ctx.defer(pipe.close)
    pipe.reader.close()
    try:
        pipe.writer.write(b"x")
        broke = False
    except BrokenPipeError:
        broke = True
    ctx.say(f"writing to a pipe whose reader is gone raised BrokenPipeError: {broke}")
    ctx.check(broke, "no BrokenPipeError for a pipe without readers")
    ctx.rule("with no reader left, write fails with EPIPE; unixipc never lets SIGPIPE kill "
             "the process.")


def step_popen(ctx: TourContext) -> None:
    from .. import pclose, popen

    f = popen("echo from a shell; exit 3", "r")
    out = f.read()
    status = pclose(f)
    code = os.waitstatus_to_exitcode(status)
    ctx.say(f"popen('echo from a shell; exit 3', 'r') read {out!r}")
    ctx.say(f"pclose returned the wait status {status:#x}: exit code {code}")
    ctx.check(out == b"from a shell\n" and code == 3, "popen/pclose gave something else")
    ctx.rule("popen runs /bin/sh -c with a pipe on its stdout (or stdin); pclose waits for "
             "the shell and returns its wait status, as C's pclose does.")


def step_coprocess(ctx: TourContext) -> None:
    import sys

    from .. import Coprocess

    filter_code = ("import sys\n"
                   "try:\n"
                   "    for line in sys.stdin:\n"
                   "        a, b = line.split()\n"
                   "        print(int(a) + int(b))\n"
                   "except OSError:\n"
                   "    pass  # the terminal went away\n")
    co = Coprocess([sys.executable, "-c", filter_code], pty=True)
    ctx.defer(co.close)
    answers = [co.request(f"{a} {b}", timeout=5).decode().strip()
               for a, b in [(1, 2), (20, 22), (300, 33)]]
    ctx.say(f"a Python filter with unchanged stdio buffering answered 1+2, 20+22, 300+33: "
            f"{answers}")
    ctx.check(answers == ["3", "42", "333"], "wrong answers")
    status = co.close()
    ctx.say(f"close() ended it with status {status}")
    ctx.rule("a filter on pipes fully buffers its output and never answers line by line; "
             "on a pseudo-terminal (pty=True) stdio flushes each line, so requests and "
             "replies interleave without deadlock.")


def step_fifo(ctx: TourContext) -> None:
    from .. import Fifo, NoReaderError, mkfifo

    path = ctx.path("fifo")
    mkfifo(path)
    ctx.defer(lambda: os.unlink(path))
    fifo = Fifo(path)
    try:
        fifo.open_writer(nonblock=True)
        refused = False
    except NoReaderError:
        refused = True
    ctx.say(f"opening the FIFO to write without blocking, with no reader: NoReaderError "
            f"(ENXIO): {refused}")
    ctx.check(refused, "a non-blocking write-open without a reader succeeded")
    try:
        fifo.open_writer(timeout=0.2)
        waited = False
    except TimeoutError:
        waited = True
    ctx.say(f"a blocking write-open waits for a reader; with timeout=0.2 it gave up: {waited}")
    ctx.check(waited, "a blocking write-open did not wait for a reader")

    def child() -> None:
        with Fifo(path).open_writer(timeout=10) as w:
            w.write(b"through a named pipe")

    pid = ctx.fork(child)
    reader = fifo.open_reader(timeout=10)
    ctx.defer(reader.close)
    data = reader.readall(timeout=10)
    ctx.check(ctx.wait(pid) == 0, "the writer child failed")
    ctx.say(f"an unrelated process opened it by name and wrote {data!r}; the reader then "
            "saw end of file")
    ctx.check(data == b"through a named pipe", "the FIFO lost data")
    ctx.rule("a FIFO is a pipe with a name: a blocking open waits for the other side; a "
             "non-blocking write-open with no reader fails with ENXIO.")


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


def step_message_queue(ctx: TourContext) -> None:
    from .. import MessageQueue

    mq = MessageQueue(create=True)
    ctx.defer(mq.remove)

    def child() -> None:
        for mtype, text in [(4, b"four"), (3, b"three"), (2, b"two"), (1, b"one")]:
            mq.send(text, type=mtype)

    pid = ctx.fork(child)
    ctx.check(ctx.wait(pid) == 0, "the sender child failed")
    ctx.say(f"a child sent types 4, 3, 2, 1 to queue {mq.id}; "
            f"{mq.stat().message_count} messages wait")
    first = mq.receive(type=-2, timeout=5)
    ctx.say(f"receive(type=-2) took type {first.type} ({first.data!r}): the lowest type <= 2")
    only3 = mq.receive(type=3, timeout=5)
    ctx.say(f"receive(type=3) took {only3.data!r} from the middle of the queue")
    rest = mq.receive(type=0, timeout=5)
    ctx.say(f"receive(type=0) took the oldest left: type {rest.type}")
    ctx.check((first.type, only3.type, rest.type) == (1, 3, 4), "type selection differs")
    ctx.rule("msgrcv type 0 takes the first message, >0 the first of that type, <0 the "
             "lowest type <= |type|.")


def step_semaphore(ctx: TourContext) -> None:
    from .. import SemaphoreSet

    sems = SemaphoreSet(count=3, create=True, initial=[1, 0, 2])
    ctx.defer(sems.remove)
    try:
        sems.op((0, -1), (1, -1), block=False)
        blocked = False
    except BlockingIOError:
        blocked = True
    ctx.say(f"op((0,-1),(1,-1)) on values [1, 0, 2] without blocking: would block = {blocked}; "
            f"values still {sems.values}")
    ctx.check(blocked and sems.values == [1, 0, 2], "a partial semop was applied")

    def child() -> None:
        sems.op((0, -1), (1, -1), timeout=5)

    pid = ctx.fork(child)
    import time

    deadline = Deadline(5)
    while sems[1].ncount == 0 and not deadline.expired:
        time.sleep(0.005)
    ctx.say(f"a child blocks in the same op (ncount of sem 1 = {sems[1].ncount})")
    sems[1].release()
    ctx.check(ctx.wait(pid) == 0, "the blocked child did not complete")
    ctx.say(f"the parent released sem 1; the child's op completed: values {sems.values}")
    ctx.check(sems.values == [0, 0, 2], "unexpected values after the op")
    ctx.rule("semop applies all its operations at once or none: never half.")


def step_shared_memory(ctx: TourContext) -> None:
    from .. import SharedMemory

    shm = SharedMemory(size=4096, create=True)
    ctx.defer(shm.remove)
    shm.write(b"written by the parent")

    def child() -> None:
        seen = shm.read(21)
        shm.write(b"child saw: " + seen, offset=100)

    pid = ctx.fork(child)
    ctx.check(ctx.wait(pid) == 0, "the child failed")
    answer = shm.read(32, offset=100)
    ctx.say(f"the parent wrote into segment {shm.id}; the child read it and wrote back: "
            f"{answer!r}")
    ctx.check(answer == b"child saw: written by the parent", "the segment was not shared")
    ctx.rule("attached shared memory is the same physical pages in every process: no copy "
             "through the kernel, so access must be coordinated (a semaphore).")


def step_socket(ctx: TourContext) -> None:
    from .. import sockets

    address = "unix:" + ctx.path("channel.sock")
    listener = sockets.listen(address)
    ctx.defer(listener.close)
    r, w = os.pipe()
    ctx.defer(lambda: os.close(r))

    def child() -> None:
        # (the listener is left alone: closing it here would unlink the path)
        with sockets.connect(address, timeout=5) as channel:
            channel.send(b"first")
            channel.send(b"")
            channel.send(b"a pipe end follows", fds=[w])
            channel.shutdown()
            try:  # stay alive (for SO_PEERCRED) until the parent closes
                channel.receive(timeout=5)
            except sockets.ChannelClosedError:
                pass

    pid = ctx.fork(child)
    os.close(w)
    channel = listener.accept(timeout=5)
    ctx.defer(channel.close)
    got = [channel.receive(timeout=5) for _ in range(3)]
    ctx.say(f"a child connected to {address} and sent three messages: "
            f"{[m.data for m in got]!r}")
    ctx.check([m.data for m in got] == [b"first", b"", b"a pipe end follows"],
              "message boundaries were not kept")
    (passed,) = got[2].fds
    os.write(passed, b"through the passed descriptor")
    os.close(passed)
    ctx.say(f"the third carried the write end of the parent's pipe (SCM_RIGHTS); writing to "
            f"it gives {os.read(r, 64)!r} on the read end")
    creds = channel.peer_credentials()
    ctx.say(f"the kernel vouches for the peer (SO_PEERCRED): pid {creds.pid}, uid {creds.uid}")
    ctx.check(creds.pid == pid, "SO_PEERCRED named another process")
    try:
        channel.receive(timeout=5)
        closed = False
    except sockets.ChannelClosedError:
        closed = True
    ctx.say(f"after the child's shutdown(SHUT_WR) the next receive ends the stream: "
            f"ChannelClosedError = {closed}")
    ctx.check(closed, "no end of stream after shutdown")
    channel.close()
    ctx.check(ctx.wait(pid) == 0, "the child failed")
    ctx.rule("a stream socket carries bytes, not messages: a length prefix keeps the "
             "boundaries; descriptors travel as ancillary data and arrive as new "
             "descriptors of the receiver.")


def step_shmch(ctx: TourContext) -> None:
    from .. import ChannelClosedError, ShmChannel

    ch = ShmChannel(capacity=1 << 16)
    ctx.defer(ch.close)

    def child() -> None:
        ch.close_receiving()
        ch.send_many([b"one", b"two", b"three"])
        ch.close()

    pid = ctx.fork(child)
    ch.close_sending()  # the child is now the only sender
    got = [ch.receive(timeout=5) for _ in range(3)]
    ctx.check(ctx.wait(pid) == 0, "the child failed")
    ctx.say(f"a child sent 3 messages through a {ch.capacity} B ring in shared memory "
            f"(no system call per message) and exited; the parent received {got}")
    try:
        ch.receive(timeout=5)
        ended = False
    except ChannelClosedError:
        ended = True
    ctx.say(f"the next receive, with no sender left and the ring empty: "
            f"ChannelClosedError = {ended}")
    ctx.check(got == [b"one", b"two", b"three"] and ended, "messages or end of stream wrong")
    ctx.rule("a shared-memory channel ends when every sending side is gone, "
             "closed, exited or killed, and the ring is empty.")


def step_netdb(ctx: TourContext) -> None:
    import socket

    from .. import netdb

    infos = netdb.address_info("127.0.0.1", 8080, type=socket.SOCK_STREAM,
                               flags=netdb.AddressInfoFlags.AI_NUMERICHOST)
    ctx.say("address_info('127.0.0.1', 8080, SOCK_STREAM, AI_NUMERICHOST) = "
            + ", ".join(f"{socket.AddressFamily(i.family).name} {i.address}" for i in infos))
    ctx.check(any(i.address == ("127.0.0.1", 8080) for i in infos), "no IPv4 address came back")
    try:
        netdb.address_info("not a numeric host", None, flags=netdb.AddressInfoFlags.AI_NUMERICHOST)
        refused = ""
    except netdb.AddressInfoError as exc:
        refused = str(exc)
    ctx.say(f"a name where NUMERICHOST demands a number fails without a DNS query: {refused}")
    ctx.check(bool(refused), "a non-numeric host was accepted")
    try:
        ssh = netdb.service_by_name("ssh", "tcp")
        ctx.say(f"service_by_name('ssh', 'tcp') = port {ssh.port} "
                f"(the services database, through nsswitch)")
        ctx.check(ssh.port == 22, "ssh is not port 22")
    except netdb.NotFoundError:
        ctx.say("this machine has no services database (/etc/services, Debian's netbase): "
                "lookups raise NotFoundError")
    count = sum(1 for _ in netdb.protocols())
    ctx.say(f"protocols() walks the whole protocol database: {count} entries")
    ctx.rule("getaddrinfo turns names into socket addresses; the netdb databases "
             "(hosts, networks, protocols, services) are read through the C library, "
             "so nsswitch decides where they come from.")


STEPS: list[Step] = [
    Step("pipe", "Anonymous pipes: EOF, capacity, PIPE_BUF, EPIPE", step_pipe),
    Step("popen", "popen and pclose", step_popen),
    Step("coproc", "A coprocess on a pseudo-terminal", step_coprocess),
    Step("fifo", "FIFOs: the open rules", step_fifo),
    Step("ftok", "System V keys: ftok", step_ftok),
    Step("msg", "System V message queues: type selection", step_message_queue),
    Step("sem", "System V semaphore sets: atomic operations", step_semaphore),
    Step("shm", "System V shared memory between processes", step_shared_memory),
    Step("sock", "Socket message channels: boundaries, descriptors, credentials", step_socket),
    Step("shmch", "A message channel in shared memory: end of stream", step_shmch),
    Step("netdb", "Network databases: getaddrinfo and services", step_netdb),
]
