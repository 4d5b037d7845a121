"""iceoryx2's Python binding (PyPI ``iceoryx2``) as a peer of the shared-memory channel.

Two :class:`~.twoproc.Transport` (mechanism ``shmch``, impls ``iceoryx2``
and ``iceoryx2 events``): two publish-subscribe services of ``u8`` slices,
one per direction, in a configuration that loses nothing. iceoryx2's
defaults lose messages silently, four ways:

- a service *overflows* by default (``enable_safe_overflow``): a publisher
  whose subscriber's buffer (2 samples by default) is full overwrites the
  oldest sample there, and its ``send`` still reports a delivery;
- a message sent while no subscriber is connected reaches nobody
  (``send`` returns 0) and a history of 0 replays nothing to a late
  subscriber;
- a subscriber connects to a new publisher only when it next receives:
  a publisher removed before that takes its unread samples with it
  ("Lost chunk"), as the one-way sink's last message would be;
- a subscriber may hold at most 2 received samples unreleased.

So here: overflow off and the publisher's backpressure strategy
``RetryUntilDelivered`` (a full buffer makes ``send`` wait, as a full ring
blocks a ShmChannel sender); the subscriber's buffer holds about as many
bytes as the other transports' 4 MiB ring (``RING``) in at most 1024
samples; the parent sends nothing before the child's subscriber is
connected (no history needed) and connects its own subscriber to the
child's publisher before the run; the child never removes its ports
(``close`` does, after it exited); every sample is copied to ``bytes`` and
released at once. Every ``send`` must report exactly one subscriber, and
after the child exits the messages each side took must equal those the
other sent, with none left over: else the workload fails (an error, not a
figure).

iceoryx2 cannot sleep on a publish-subscribe service: a blocking receive
needs a second, event service. ``iceoryx2``'s receivers *busy-poll*
``Subscriber.receive`` (each process is pinned to a CPU of its own, like
the C ring's, which spins too): iceoryx2's fastest round trip, with the
CPU an idle receiver then burns. ``iceoryx2 events`` adds an event service
per direction: the sender notifies after every message (it cannot tell
whether the receiver sleeps), the receiver waits on a Listener when it
finds nothing. A receiver that has had nothing for ``STALL`` seconds
raises TimeoutError (a lost message ends the run instead of hanging it).

Each link gets a root directory of its own (instead of ``/tmp/iceoryx2``)
and a unique name prefix for its ``/dev/shm`` objects; ``close`` removes
both, whatever iceoryx2 left (its per-prefix ``global_mgmt`` segment
outlives every node, and a killed child leaves its node behind).
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import mmap
import os
import shutil
import struct
import tempfile
import time
from typing import Any, Callable

from .twoproc import Link, Transport

__all__ = ["iceoryx2_transport", "iceoryx2_events_transport"]

RING = 1 << 22  # the byte budget of a subscriber's buffer, as the other rings'
MAX_SAMPLES = 1024  # at most this many samples per subscriber buffer
STALL = 30.0  # seconds without a message before a receiver gives up

_links = itertools.count()


class _IoxEnd:
    """One process's side: ``send``/``take`` bound to its publisher and
    subscriber (set when the process has opened them), with counts."""

    send: Callable[[bytes], None]
    take: Callable[[], bytes]

    def __init__(self) -> None:
        self.sent = itertools.count()
        self.taken = itertools.count()
        self.publisher: Any = None
        self.subscriber: Any = None
        self.notifier: Any = None
        self.listener: Any = None
        self.node: Any = None
        self.services: list[Any] = []

    def recv(self, size: int) -> bytes:
        return self.take()

    def bind(self, publisher: Any, subscriber: Any, notifier: Any = None,
             listener: Any = None, second: Any = None) -> None:
        self.publisher, self.subscriber = publisher, subscriber
        self.notifier, self.listener = notifier, listener
        self.send = _sender(publisher, self.sent, notifier)
        self.take = (_taker(subscriber, self.taken) if listener is None
                     else _sleeping_taker(subscriber, self.taken, listener, second))

    def counts(self) -> tuple[int, int]:
        """(messages sent, messages taken): called once, at the end (a
        count's next value is the number of ticks before it)."""
        return next(self.sent), next(self.taken)

    def release(self) -> None:
        """Drop this side's ports and node (iceoryx2 removes what it can)."""
        for port in (self.publisher, self.subscriber, self.notifier, self.listener):
            if port is not None:
                port.delete()
        self.publisher = self.subscriber = self.notifier = self.listener = self.node = None
        self.services.clear()


def _sender(publisher: Any, sent: "itertools.count[int]",
            notifier: Any = None) -> Callable[[bytes], None]:
    loan, memmove, tick = publisher.loan_slice_uninit, ctypes.memmove, sent.__next__
    if notifier is not None:
        notify = notifier.notify

        def send_and_notify(data: bytes) -> None:
            n = len(data)
            sample = loan(n)
            memmove(sample.payload_ptr, data, n)
            if sample.assume_init().send() != 1:
                raise RuntimeError("iceoryx2: a message reached no subscriber (lost)")
            notify()  # the receiver may sleep: iceoryx2 cannot tell
            tick()

        return send_and_notify

    def send(data: bytes) -> None:
        n = len(data)
        sample = loan(n)
        memmove(sample.payload_ptr, data, n)
        if sample.assume_init().send() != 1:
            raise RuntimeError("iceoryx2: a message reached no subscriber (lost)")
        tick()

    return send


def _taker(subscriber: Any, taken: "itertools.count[int]") -> Callable[[], bytes]:
    receive, string_at, tick = subscriber.receive, ctypes.string_at, taken.__next__

    def take() -> bytes:
        sample = receive()
        if sample is None:
            polls = 0
            give_up = 0.0
            while (sample := receive()) is None:
                polls += 1
                if not polls & 0xFFFF:  # a clock read every 65536 empty polls
                    now = time.monotonic()
                    if not give_up:
                        give_up = now + STALL
                    elif now > give_up:
                        raise TimeoutError(f"iceoryx2: no message for {STALL:g} s (lost?)")
        data = string_at(sample.payload_ptr, sample.header.number_of_elements)
        sample.delete()
        tick()
        return data

    return take


def _sleeping_taker(subscriber: Any, taken: "itertools.count[int]", listener: Any,
                    second: Any) -> Callable[[], bytes]:
    receive, string_at, tick, wait = (subscriber.receive, ctypes.string_at, taken.__next__,
                                      listener.timed_wait)

    def take() -> bytes:
        sample = receive()
        if sample is None:
            give_up = time.monotonic() + STALL
            while (sample := receive()) is None:
                # a notification sent after the failed receive is kept
                # for this wait: it returns at once
                wait(second)
                if time.monotonic() > give_up:
                    raise TimeoutError(f"iceoryx2: no message for {STALL:g} s (lost?)")
        data = string_at(sample.payload_ptr, sample.header.number_of_elements)
        sample.delete()
        tick()
        return data

    return take


def iceoryx2_transport() -> Transport:
    """iceoryx2 publish-subscribe, lossless, busy-polling receivers."""
    import iceoryx2 as iox2

    def open_link(size: int) -> Link:
        return _open(iox2, size, events=False)

    return Transport("shmch", "iceoryx2", open_link)


def iceoryx2_events_transport() -> Transport:
    """The same with receivers that sleep: an event service per direction,
    the sender notifying after each message, the receiver waiting on a
    Listener when it finds nothing."""
    import iceoryx2 as iox2

    def open_link(size: int) -> Link:
        return _open(iox2, size, events=True)

    return Transport("shmch", "iceoryx2 events", open_link)


def _open(iox2: Any, size: int, events: bool) -> Link:
    root = tempfile.mkdtemp(prefix="unixipc-iox2-")
    prefix = f"uxb{os.getpid()}x{next(_links)}_"
    config = iox2.config.default()
    config.global_cfg.root_path = iox2.Path.new(root + "/")
    config.global_cfg.prefix = iox2.FileName.new(prefix)
    slice_len = max(size, 1)
    samples = max(2, min(MAX_SAMPLES, RING // slice_len))
    report = mmap.mmap(-1, 32)  # the child's counts, read by the parent at close
    parent, child = _IoxEnd(), _IoxEnd()

    def service(node: Any, name: str) -> Any:
        return (node.service_builder(iox2.ServiceName.new(name))
                .publish_subscribe(iox2.Slice[ctypes.c_uint8])
                .enable_safe_overflow(False)
                .subscriber_max_buffer_size(samples)
                .subscriber_max_borrowed_samples(2)
                .history_size(0)
                .max_publishers(1).max_subscribers(1)
                .open_or_create())

    def ports(end: _IoxEnd, out: str, into: str) -> None:
        end.node = iox2.NodeBuilder.new().config(config).create(iox2.ServiceType.Ipc)
        send_to, take_from = service(end.node, out), service(end.node, into)
        end.services[:] = [send_to, take_from]
        subscriber = take_from.subscriber_builder().buffer_size(samples).create()
        publisher = (send_to.publisher_builder()
                     .initial_max_slice_len(slice_len)
                     .allocation_strategy(iox2.AllocationStrategy.PowerOfTwo)
                     .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
                     .create())
        if not events:
            end.bind(publisher, subscriber)
            return
        wake_out = (end.node.service_builder(iox2.ServiceName.new(out + ".event")).event()
                    .max_notifiers(1).max_listeners(1).open_or_create())
        wake_in = (end.node.service_builder(iox2.ServiceName.new(into + ".event")).event()
                   .max_notifiers(1).max_listeners(1).open_or_create())
        end.services += [wake_out, wake_in]
        listener = wake_in.listener_builder().create()
        notifier = wake_out.notifier_builder().create()
        end.bind(publisher, subscriber, notifier, listener, iox2.Duration.from_secs(1))

    def remove_all() -> None:
        for path in glob.glob(f"/dev/shm/{prefix}*"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        shutil.rmtree(root, ignore_errors=True)

    try:
        ports(parent, "down", "up")  # the parent's subscriber exists before the fork
    except BaseException:
        parent.release()
        remove_all()
        raise

    def in_child() -> None:
        # a node of the child's own (the parent's, copied by fork, is left alone)
        ports(child, "up", "down")

    def in_parent() -> None:
        # Nothing is sent before the child's subscriber is there, and the
        # parent's subscriber connects to the child's publisher now: one that
        # connected only at its first receive would miss what a publisher
        # sent and then removed (the one-way sink's last message).
        try:
            down, up = parent.services[:2]
            down_wake = parent.services[2] if events else None
            deadline = time.monotonic() + STALL
            while (down.dynamic_config.number_of_subscribers < 1
                   or up.dynamic_config.number_of_publishers < 1
                   or (down_wake is not None
                       and down_wake.dynamic_config.number_of_listeners < 1)):
                if time.monotonic() > deadline:
                    raise TimeoutError("iceoryx2: the child's ports never connected")
                time.sleep(0.0005)
            parent.publisher.update_connections()
            parent.subscriber.has_samples()  # connects to the new publisher
        except BaseException:
            parent.release()
            remove_all()
            raise

    def child_done() -> None:
        sent, taken = child.counts()
        left = bool(child.subscriber.has_samples())
        report[:] = struct.pack("=qqqq", 1, sent, taken, left)
        # The child's ports are not released: a publisher removed before
        # the subscriber has mapped its data segment takes its unread samples
        # with it ("Lost chunk": the one-way sink's last message). The
        # parent's close removes what the exited child leaves.

    def close() -> None:
        try:
            done, child_sent, child_taken, child_left = struct.unpack("=qqqq", report[:])
            report.close()
            parent_sent, parent_taken = parent.counts()
            parent_left = parent.subscriber is not None and bool(parent.subscriber.has_samples())
        finally:
            parent.release()
            remove_all()
        if done and (child_taken != parent_sent or parent_taken != child_sent
                     or child_left or parent_left):
            raise RuntimeError(
                f"iceoryx2 lost or duplicated messages: parent sent {parent_sent}, child took"
                f" {child_taken}{' (more waiting)' if child_left else ''}; child sent"
                f" {child_sent}, parent took {parent_taken}"
                f"{' (more waiting)' if parent_left else ''}")

    return Link(parent=parent, child=child, close=close, in_child=in_child,
                in_parent=in_parent, child_done=child_done)
