"""A short demo of unixipc between real processes (until `unixipc tour` exists).

Run: python examples/demo.py
"""

from __future__ import annotations

import os
import time

import unixipc


def main() -> int:
    with unixipc.MessageQueue(create=True) as mq:
        print(f"created private message queue {mq.id} (mode {mq.stat().perm.mode:o})")
        pid = os.fork()
        if pid == 0:  # the child sends four typed messages
            for mtype in (4, 3, 2, 1):
                mq.send(f"message of type {mtype}".encode(), type=mtype)
            os._exit(0)
        os.waitpid(pid, 0)
        print(f"child {pid} sent types 4, 3, 2, 1; "
              f"{mq.stat().message_count} messages are queued")
        msg = mq.receive(type=-2)
        print(f"receive(type=-2) -> type {msg.type}: the lowest type <= 2, not the first")
        msg = mq.receive(type=3)
        print(f"receive(type=3)  -> {msg.data!r}: the first of that type")
        msg = mq.receive()
        print(f"receive()        -> type {msg.type}: the oldest message left")
        t0 = time.monotonic()
        try:
            mq.receive(type=99, timeout=0.2)
        except TimeoutError as exc:
            print(f"receive(type=99, timeout=0.2) -> {exc} after "
                  f"{time.monotonic() - t0:.2f} s, without polling")
    print("the queue was removed on leaving the with block")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
