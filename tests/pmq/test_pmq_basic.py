"""POSIX message queues in one process: names, creation, priorities, sizes,
limits, non-blocking calls, timeouts, notify, fileno, the lifecycle."""

from __future__ import annotations

import errno
import os
import select
import signal
import sys
import threading
import time

import pytest

from unixipc import posix
from support import Child, cpu_seconds, posix_name


def test_send_and_receive_keep_bytes_and_priority(make_pmq):
    mq = make_pmq()
    mq.send(b"hello", 3)
    msg = mq.receive(timeout=5)
    assert msg == posix.Message(b"hello", 3)
    assert isinstance(msg.data, bytes) and msg.priority == 3


def test_priorities_order_highest_first_fifo_within(make_pmq):
    mq = make_pmq()
    for data, prio in [(b"a", 1), (b"b", 5), (b"c", 1), (b"d", 5), (b"e", 0),
                       (b"f", posix.MQ_PRIO_MAX - 1)]:
        mq.send(data, prio)
    got = [mq.receive(block=False) for _ in range(6)]
    assert [m.data for m in got] == [b"f", b"b", b"d", b"a", b"c", b"e"]


@pytest.mark.parametrize("prio", [-1, posix.MQ_PRIO_MAX, 2**70])
def test_priority_out_of_range_is_valueerror(make_pmq, prio):
    mq = make_pmq()
    with pytest.raises(ValueError, match="priority"):
        mq.send(b"x", prio)
    assert mq.attributes().current_messages == 0


def test_bool_priority_is_typeerror(make_pmq):
    with pytest.raises(TypeError):
        make_pmq().send(b"x", True)


def test_attributes_report_capacity_and_count(make_pmq):
    mq = make_pmq(max_messages=4, max_message_size=100)
    mq.send(b"1")
    mq.send(b"2")
    assert mq.attributes() == posix.QueueAttributes(4, 100, 2)


def test_one_size_given_takes_the_default_for_the_other(make_pmq):
    mq = make_pmq(max_message_size=64)
    with open("/proc/sys/fs/mqueue/msg_default") as f:
        assert mq.attributes() == posix.QueueAttributes(int(f.read()), 64, 0)


def test_too_long_message_is_valueerror_before_the_call(make_pmq):
    mq = make_pmq(max_messages=2, max_message_size=8)
    mq.send(b"12345678")
    with pytest.raises(ValueError, match="max_message_size"):
        mq.send(b"123456789")
    assert mq.attributes().current_messages == 1


def test_receive_buffer_is_always_large_enough(make_pmq):
    mq = make_pmq(max_messages=2, max_message_size=8192)
    data = os.urandom(8192)
    mq.send(data)
    mq.send(b"")
    assert mq.receive().data == data
    assert mq.receive().data == b""


def test_any_bytes_like_is_sent(make_pmq):
    mq = make_pmq()
    mq.send(bytearray(b"ba"))
    mq.send(memoryview(b"mv"))
    assert [mq.receive().data for _ in range(2)] == [b"ba", b"mv"]
    with pytest.raises(TypeError):
        mq.send("text")


def test_non_blocking_calls_are_blockingioerror(make_pmq):
    mq = make_pmq(max_messages=1, max_message_size=16)
    with pytest.raises(BlockingIOError):
        mq.receive(block=False)
    mq.send(b"x")
    with pytest.raises(BlockingIOError):
        mq.send(b"y", block=False)
    with pytest.raises(BlockingIOError):
        mq.send(b"y", timeout=5, block=False)


def test_timeouts_raise_without_spinning(make_pmq):
    mq = make_pmq(max_messages=1, max_message_size=16)
    for call in (lambda: mq.receive(timeout=0.3),
                 lambda: (mq.send(b"f"), mq.send(b"g", timeout=0.3))):
        before_cpu, before = cpu_seconds(), time.monotonic()
        with pytest.raises(TimeoutError):
            call()
        assert time.monotonic() - before >= 0.3
        assert cpu_seconds() - before_cpu < 0.15


def test_timeout_zero_is_one_attempt(make_pmq):
    mq = make_pmq()
    with pytest.raises(TimeoutError):
        mq.receive(timeout=0)
    mq.send(b"now")
    assert mq.receive(timeout=0).data == b"now"


def test_signal_during_a_wait_runs_the_handler_and_retries(make_pmq):
    mq = make_pmq()
    seen = []
    old = signal.signal(signal.SIGALRM, lambda *a: seen.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        before = time.monotonic()
        with pytest.raises(TimeoutError):
            mq.receive(timeout=0.4)
        # the wait resumed with the time left: the full timeout, no more
        assert 0.4 <= time.monotonic() - before < 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert seen == [1]


def test_signal_handler_exception_ends_the_wait(make_pmq):
    mq = make_pmq()

    class Stop(Exception):
        pass

    def handler(*a):
        raise Stop

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(Stop):
            mq.receive(timeout=10)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("name,why", [
    ("jobs", "start with '/'"), ("/", "at least one"), ("/a/b", "only its leading"),
    ("/a\0b", "NUL"), ("/" + "x" * 256, "NAME_MAX"), ("/..", "may not be"),
])
def test_bad_names_are_valueerror_saying_why(name, why):
    with pytest.raises(ValueError, match=why) as info:
        posix.MessageQueue(name, create=True)
    assert "message queue" in str(info.value)


def test_missing_queue_is_filenotfounderror_naming_it():
    name = posix_name("missing")
    with pytest.raises(FileNotFoundError) as info:
        posix.MessageQueue(name)
    assert info.value.filename == name


def test_exclusive_on_existing_is_fileexistserror(make_pmq):
    mq = make_pmq()
    with pytest.raises(FileExistsError):
        posix.MessageQueue(mq.name, exclusive=True)
    other = posix.MessageQueue(mq.name, create=True)
    try:
        assert not other.created and mq.created
    finally:
        other.close()


def test_existing_queue_keeps_its_capacity(make_pmq):
    mq = make_pmq(max_messages=3, max_message_size=32)
    with posix.MessageQueue(mq.name, create=True, max_messages=5,
                            max_message_size=64) as other:
        assert other.attributes()[:2] == (3, 32)


def test_new_queue_mode_defaults_to_0600(make_pmq):
    old = os.umask(0)
    try:
        mq = make_pmq()
        mq2 = make_pmq(mode=0o640)
    finally:
        os.umask(old)
    assert os.fstat(mq.fileno()).st_mode & 0o777 == 0o600
    assert os.fstat(mq2.fileno()).st_mode & 0o777 == 0o640


def test_msg_max_limit_is_a_clear_error():
    with open("/proc/sys/fs/mqueue/msg_max") as f:
        msg_max = int(f.read())
    with pytest.raises(ValueError, match=rf"msg_max \({msg_max}\)"):
        posix.MessageQueue(posix_name("big"), create=True, max_messages=msg_max + 1,
                           max_message_size=16)


def test_msgsize_max_limit_is_a_clear_error():
    with open("/proc/sys/fs/mqueue/msgsize_max") as f:
        msgsize_max = int(f.read())
    with pytest.raises(ValueError, match=rf"msgsize_max \({msgsize_max}\)"):
        posix.MessageQueue(posix_name("big"), create=True, max_messages=1,
                           max_message_size=msgsize_max + 1)


@pytest.mark.parametrize("kwargs", [dict(max_messages=0), dict(max_message_size=-1),
                                    dict(max_messages=1.5), dict(read=False, write=False),
                                    dict(mode=0o1000)])
def test_bad_arguments_fail_before_any_call(kwargs):
    name = posix_name("bad")
    with pytest.raises((TypeError, ValueError)):
        posix.MessageQueue(name, create=True, **kwargs)
    with pytest.raises(FileNotFoundError):
        posix.MessageQueue(name)


def test_read_only_and_write_only_handles(make_pmq):
    mq = make_pmq()
    with posix.MessageQueue(mq.name, read=False) as w, \
            posix.MessageQueue(mq.name, write=False) as r:
        w.send(b"one way")
        with pytest.raises(PermissionError):
            w.receive(block=False)
        with pytest.raises(PermissionError):
            r.send(b"no")
        assert r.receive(timeout=5).data == b"one way"


def test_fileno_is_pollable(make_pmq):
    mq = make_pmq(max_messages=1, max_message_size=8)
    p = select.poll()
    p.register(mq.fileno(), select.POLLIN | select.POLLOUT)
    assert dict(p.poll(0)) == {mq.fileno(): select.POLLOUT}
    mq.send(b"x")
    assert dict(p.poll(0)) == {mq.fileno(): select.POLLIN}


def test_notify_signal_fires_once_then_must_be_renewed(make_pmq):
    mq = make_pmq()
    seen = []
    old = signal.signal(signal.SIGUSR1, lambda *a: seen.append(1))
    try:
        mq.notify(signal=signal.SIGUSR1)
        mq.send(b"1")
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [1]
        mq.receive()
        mq.send(b"2")  # the registration was removed when it fired
        time.sleep(0.1)
        assert seen == [1]
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_notify_one_registration_then_removal(make_pmq):
    mq = make_pmq()
    with posix.MessageQueue(mq.name) as other:
        mq.notify(signal=signal.SIGUSR2)
        with pytest.raises(OSError) as info:
            other.notify(signal=signal.SIGUSR2)
        assert info.value.errno == errno.EBUSY
        assert info.value.filename == mq.name
        mq.notify(None)
        other.notify(signal=signal.SIGUSR2)
        other.notify(None)


def _sender(name, data):
    with posix.MessageQueue(name, read=False) as mq:
        mq.send(data)
    return 0


def test_notify_callback_runs_in_a_thread_once_then_must_be_renewed(make_pmq):
    mq = make_pmq()
    fired = threading.Event()
    threads = []

    def callback():
        threads.append(threading.get_ident())
        fired.set()

    mq.notify(callback)
    Child(_sender, mq.name, b"from another process").result()  # arrives on the empty queue
    assert fired.wait(5), "the callback never ran"
    assert threads != [threading.get_ident()] and len(threads) == 1
    assert mq.receive().data == b"from another process"
    fired.clear()
    mq.send(b"again")  # the registration went when it fired
    assert not fired.wait(0.2)
    mq.receive()
    mq.notify(callback)  # renewed: the kernel registration is free again
    mq.send(b"third")
    assert fired.wait(5) and len(threads) == 2


def test_notify_callback_removed_replaced_and_closed(make_pmq):
    mq = make_pmq()
    calls = []
    mq.notify(lambda: calls.append("first"))
    with posix.MessageQueue(mq.name) as other:
        with pytest.raises(OSError) as info:  # one registration per queue
            other.notify(lambda: calls.append("other"))
        assert info.value.errno == errno.EBUSY
    mq.notify(None)  # removed: nothing runs
    mq.send(b"x")
    time.sleep(0.2)
    assert calls == []
    mq.receive()
    mq.notify(lambda: calls.append("second"))
    with pytest.raises(TypeError):
        mq.notify(lambda: None, signal=signal.SIGUSR1)
    with pytest.raises(TypeError):
        mq.notify(42)  # type: ignore[arg-type]
    # close drops the registration: another handle may register at once
    with posix.MessageQueue(mq.name) as again:
        mq.close()
        again.notify(lambda: calls.append("after close"))
        again.send(b"y")
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
    assert calls == ["after close"]


def test_notify_callback_error_goes_to_the_unraisable_hook(make_pmq, monkeypatch):
    mq = make_pmq()
    seen = []
    done = threading.Event()

    def hook(info):
        seen.append(info.exc_value)
        done.set()

    def callback():
        raise RuntimeError("from the callback")

    monkeypatch.setattr(sys, "unraisablehook", hook)
    mq.notify(callback)
    mq.send(b"x")
    assert done.wait(5)
    assert isinstance(seen[0], RuntimeError) and "from the callback" in str(seen[0])


def test_with_unlinks_only_what_it_created():
    name = posix_name("with")
    with posix.MessageQueue(name, create=True) as mq:
        with posix.MessageQueue(name, create=True) as opener:
            assert not opener.created
        with posix.MessageQueue(name):  # still there
            pass
    assert mq.closed
    with pytest.raises(FileNotFoundError):
        posix.MessageQueue(name)


def test_unlinked_queue_keeps_working_for_holders(make_pmq):
    mq = make_pmq()
    mq.unlink()
    mq.send(b"still")
    assert mq.receive().data == b"still"
    with pytest.raises(FileNotFoundError):
        mq.unlink()


def test_closed_queue_raises_valueerror(make_pmq):
    mq = make_pmq()
    mq.close()
    mq.close()
    assert mq.closed
    for call in (lambda: mq.send(b"x"), mq.receive, mq.attributes, mq.fileno,
                 lambda: mq.notify(None)):
        with pytest.raises(ValueError):
            call()


def test_close_while_another_thread_waits_is_deferred(make_pmq):
    import threading

    mq = make_pmq()
    handle = mq._handle
    got: list[object] = []

    def wait() -> None:
        got.append(handle.receive(timeout=10))

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.1)
    handle.close()  # the waiter keeps the descriptor until it returns
    assert handle.closed
    with posix.MessageQueue(mq.name) as other:
        other.send(b"late")
    t.join(10)
    assert got == [(b"late", 0)]
    with pytest.raises(ValueError):
        handle.fileno()


def test_limits_report_proc_and_rlimit():
    import resource

    lim = posix.limits()
    for field in ("msg_max", "msgsize_max", "queues_max", "msg_default", "msgsize_default"):
        with open(f"/proc/sys/fs/mqueue/{field}") as f:
            assert getattr(lim, field) == int(f.read())
    assert lim.rlimit_msgqueue == resource.getrlimit(resource.RLIMIT_MSGQUEUE)[0]


def test_hot_path_keeps_access_checks_names_and_temporaries(make_pmq):
    """send(data)/receive() of an open queue go straight to C (no argument
    parsing, no Python frame): the access rule, the queue's name in errors
    and a temporary object's call still hold."""
    import gc
    import warnings

    mq = make_pmq(max_messages=1, max_message_size=16)
    with posix.MessageQueue(mq.name, read=False) as w:
        with pytest.raises(PermissionError, match="read=False") as info:
            w.receive()
        assert info.value.filename == mq.name
    with posix.MessageQueue(mq.name, write=False) as r:
        with pytest.raises(PermissionError, match="write=False"):
            r.send(b"x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        posix.MessageQueue(mq.name).send(b"one")
        gc.collect()
    with pytest.raises(BlockingIOError) as full:
        mq.send(b"two", block=False)
    assert full.value.filename == mq.name
    msg = mq.receive()
    assert type(msg) is posix.Message and msg == (b"one", 0)
    with pytest.raises(TimeoutError) as late:
        mq.receive(timeout=0)
    assert late.value.filename == mq.name
    mq.close()
    with pytest.raises(ValueError, match="closed"):
        mq.send(b"x")
