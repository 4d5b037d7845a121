"""A short demo of unixipc between real processes (until `unixipc tour` exists).

Run: python examples/demo.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import unixipc
from unixipc import _core


def show_ftok() -> None:
    with tempfile.NamedTemporaryFile() as anchor:
        key = unixipc.ftok(anchor.name, 42)
        print(f"ftok({anchor.name!r}, 42) = {key:#010x}: two processes that name the same file")
        pid = os.fork()
        if pid == 0:
            os._exit(0 if unixipc.ftok(anchor.name, 42) == key else 1)
        _, status = os.waitpid(pid, 0)
        print(f"  ... and a child computes the same key: {os.waitstatus_to_exitcode(status) == 0}")


def show_timeout() -> None:
    t0 = time.monotonic()
    try:
        _core._pause(0.2)
    except TimeoutError as exc:
        print(f"a call with no timed form, bounded by timeout=0.2: {exc} "
              f"after {time.monotonic() - t0:.2f}s")


def show_message_queue() -> None:
    """A parent and a forked child exchange typed messages over one queue."""
    with unixipc.MessageQueue(create=True) as mq:  # private, 0o600, removed on exit
        print(f"message queue id {mq.id}: the parent sends types 3, 1, 2; the child "
              "answers on type 10")
        for t in (3, 1, 2):
            mq.send(b"message of type %d" % t, type=t)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                first = mq.receive(-3, timeout=10)  # the lowest type <= 3 comes first
                rest = mq.receive_many(5, timeout=10)
                answer = f"child got type {first.type}, then {[m.type for m in rest]}"
                mq.send(answer.encode(), type=10)
                code = 0
            finally:
                os._exit(code)
        reply = mq.receive(10, timeout=10)
        os.waitpid(pid, 0)
        print(f"  child: {reply.data.decode()}"
              "  (receive(-3) takes the LOWEST type <= 3; receive_many then takes the rest "
              "in queue order)")
        try:
            mq.receive(timeout=0.2)
        except TimeoutError:
            print("  an empty queue: receive(timeout=0.2) raised TimeoutError, "
                  "without burning CPU")
    print("  the queue was removed on leaving the with block (this process created it)")


def main() -> int:
    show_ftok()
    show_timeout()
    show_message_queue()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
