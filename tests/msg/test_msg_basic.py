"""MessageQueue in one process: opening, type selection, sizes, errors."""

from __future__ import annotations

import errno
import math
import resource
import subprocess
import sys
import time

import pytest

import unixipc
from unixipc import Message, MessageQueue, MessageTooLongError, _core


def snapshot(q: MessageQueue) -> tuple[int, int, int, int]:
    st = q.stat()
    return (st.message_count, st.current_bytes, st.perm.mode, st.max_bytes)


def drain(q: MessageQueue) -> list[Message]:
    out = []
    while True:
        try:
            out.append(q.receive(block=False))
        except BlockingIOError:
            return out


# ---- send / receive -----------------------------------------------------------

def test_send_receive_keeps_type_and_bytes(mq):
    mq.send(b"hello", 5)
    msg = mq.receive()
    assert msg == Message(5, b"hello")
    assert isinstance(msg, Message) and msg.type == 5 and msg.data == b"hello"
    assert type(msg.data) is bytes


@pytest.mark.parametrize("data", [bytearray(b"abc"), memoryview(b"xabcx")[1:4],
                                  __import__("array").array("B", b"abc")])
def test_any_bytes_like_can_be_sent(mq, data):
    mq.send(data)
    assert mq.receive() == (1, b"abc")


def test_empty_message_and_largest_type(mq):
    big = 2**63 - 1  # LONG_MAX on LP64
    mq.send(b"", big)
    assert mq.receive() == (big, b"")


def test_message_of_msgmax_bytes_with_default_max_size(mq):
    msgmax = unixipc.msg_limits().max_message_size
    payload = bytes(range(256)) * (msgmax // 256) + b"t" * (msgmax % 256)
    mq.send(payload, 9)
    assert mq.receive() == (9, payload)


def test_large_messages_straight_into_bytes(mq):
    # A max_size above the 8 KiB stack buffer makes receive() read straight
    # into the bytes object it returns, whatever the message's size.
    for size in (0, 1, 7, 8, 64, 4096, 8192):
        data = bytes((i * 7) & 0xFF for i in range(size))
        mq.send(data, size + 1)
        got = mq.receive(max_size=16384 + size % 2)
        assert got == (size + 1, data)
        assert hash(got.data) == hash(bytes(data))  # the hash was reset


def test_no_benchmark_switch_and_empty_bytes_intact(mq):
    # The benchmark-only switch that forced the direct path let a 0-byte
    # receive write the message type into the shared b"" object.
    assert not hasattr(_core, "_msg_receive_direct")
    empty_hash = hash(b"")
    for max_size in (0, None, 16384):
        mq.send(b"", 0x7FFF0001)
        got = mq.receive(max_size=max_size)
        assert got == (0x7FFF0001, b"")
    assert hash(b"") == empty_hash and len(b"") == 0 and bytes() == b""


# ---- type selection (the kernel's rules) ------------------------------------

@pytest.mark.parametrize("selector, exclude, expected", [
    (0, False, 4),    # first message
    (2, False, 2),    # first of type 2
    (3, False, 3),
    (-2, False, 1),   # lowest type <= 2: Linux gives 1, not 2
    (-3, False, 1),
    (-10, False, 1),
    (4, True, 3),     # first of any type but 4
    (1, True, 4),
])
def test_type_selection_matrix(mq, selector, exclude, expected):
    for t in (4, 3, 2, 1):
        mq.send(f"m{t}".encode(), t)
    msg = mq.receive(selector, exclude=exclude, block=False)
    assert msg == (expected, f"m{expected}".encode())
    rest = [m.type for m in drain(mq)]
    assert rest == [t for t in (4, 3, 2, 1) if t != expected]


def test_no_message_of_that_type(mq):
    mq.send(b"a", 4)
    with pytest.raises(BlockingIOError) as info:
        mq.receive(5, block=False)
    assert info.value.errno == errno.ENOMSG
    with pytest.raises(BlockingIOError):
        mq.receive(-3, block=False)
    with pytest.raises(BlockingIOError):
        mq.receive(4, exclude=True, block=False)
    assert mq.stat().message_count == 1


def test_exclude_with_negative_type_is_a_value_error(mq):
    mq.send(b"a", 1)
    with pytest.raises(ValueError, match="exclude"):
        mq.receive(-2, exclude=True)
    assert mq.stat().message_count == 1


# ---- sizes: truncate, E2BIG, limits --------------------------------------------

def test_too_long_message_stays_queued(mq):
    mq.send(b"0123456789", 3)
    with pytest.raises(MessageTooLongError) as info:
        mq.receive(max_size=4)
    assert info.value.errno == errno.E2BIG
    assert "msgrcv" in str(info.value)
    assert mq.stat().message_count == 1
    assert mq.receive(max_size=10) == (3, b"0123456789")


def test_truncate_cuts_at_max_size(mq):
    mq.send(b"0123456789", 3)
    assert mq.receive(max_size=4, truncate=True) == (3, b"0123")
    assert mq.stat().message_count == 0
    mq.send(b"abc")
    assert mq.receive(max_size=0, truncate=True) == (1, b"")


def test_huge_max_size_allocates_nothing_extra(mq):
    mq.send(b"x" * 100)
    assert mq.receive(max_size=2**62) == (1, b"x" * 100)


def test_message_larger_than_the_queue_is_a_value_error(mq):
    mq.set(max_bytes=100)
    with pytest.raises(ValueError, match="max_bytes"):
        mq.send(b"x" * 101)
    with pytest.raises(ValueError, match="max_bytes"):
        mq.send(b"x" * 101, block=False)
    assert mq.stat().message_count == 0
    mq.send(b"x" * 100)
    assert mq.receive() == (1, b"x" * 100)


def test_nothing_fits_a_queue_of_max_bytes_zero(mq):
    # The kernel also counts messages against max_bytes (qnum + 1 <= qbytes):
    # with max_bytes 0 even an empty message would wait forever.
    mq.set(max_bytes=0)
    for call in (lambda: mq.send(b""), lambda: mq.send(b"", timeout=5),
                 lambda: mq.send_many([b""]), lambda: mq.send(b"x", block=False)):
        with pytest.raises(ValueError, match="max_bytes is 0"):
            call()
    assert mq.stat().message_count == 0
    mq.set(max_bytes=1)
    mq.send(b"")
    assert mq.receive() == (1, b"")


def test_message_larger_than_msgmax_is_a_value_error(mq):
    msgmax = unixipc.msg_limits().max_message_size
    with pytest.raises(ValueError, match="msgmax"):
        mq.send(b"x" * (msgmax + 1))
    assert mq.stat().message_count == 0


# ---- blocking, non-blocking, timeouts --------------------------------------------

def test_non_blocking_receive_on_empty_queue(mq):
    with pytest.raises(BlockingIOError):
        mq.receive(block=False)


def test_non_blocking_send_on_full_queue(mq):
    mq.set(max_bytes=10)
    mq.send(b"x" * 10)
    with pytest.raises(BlockingIOError) as info:
        mq.send(b"y", block=False)
    assert info.value.errno == errno.EAGAIN
    with pytest.raises(TimeoutError):
        mq.send(b"y", timeout=0)
    assert mq.stat().message_count == 1


def test_timeout_zero_is_one_attempt(mq):
    with pytest.raises(TimeoutError):
        mq.receive(timeout=0)
    mq.send(b"a")
    assert mq.receive(timeout=0) == (1, b"a")


def _voluntary_switches() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw


def test_send_timeout_on_full_queue(mq):
    mq.set(max_bytes=4)
    mq.send(b"full")
    t0, sw0 = time.monotonic(), _voluntary_switches()
    with pytest.raises(TimeoutError):
        mq.send(b"more", timeout=0.2)
    assert 0.19 <= time.monotonic() - t0 < 1.5
    assert _voluntary_switches() - sw0 <= 4  # slept, did not poll
    assert mq.stat().message_count == 1


# ---- bad arguments: TypeError/ValueError, nothing changed ------------------------

@pytest.mark.parametrize("args, kwargs, exc", [
    ((b"x", 0), {}, ValueError),
    ((b"x", -1), {}, ValueError),
    ((b"x", "1"), {}, TypeError),
    ((b"x", 1.0), {}, TypeError),
    ((b"x", True), {}, TypeError),
    ((b"x", 2**64), {}, ValueError),
    (("text",), {}, TypeError),
    ((None,), {}, TypeError),
    ((12,), {}, TypeError),
    ((b"x",), {"timeout": -1}, ValueError),
    ((b"x",), {"timeout": math.nan}, ValueError),
    ((b"x",), {"timeout": "1"}, TypeError),
    ((b"x",), {"flags": 1}, TypeError),
    ((b"x", 1, True), {}, TypeError),
    ((), {}, TypeError),
])
def test_bad_send_arguments(mq, args, kwargs, exc):
    mq.send(b"keep", 2)
    before = snapshot(mq)
    with pytest.raises(exc):
        mq.send(*args, **kwargs)
    assert snapshot(mq) == before


@pytest.mark.parametrize("args, kwargs, exc", [
    (("1",), {}, TypeError),
    ((1.5,), {}, TypeError),
    ((2**64,), {}, ValueError),
    ((), {"max_size": -1}, ValueError),
    ((), {"max_size": 2**80}, ValueError),
    ((), {"max_size": "10"}, TypeError),
    ((), {"timeout": -0.5}, ValueError),
    ((-1,), {"exclude": True}, ValueError),
    ((), {"bogus": 1}, TypeError),
    ((0, True), {}, TypeError),
])
def test_bad_receive_arguments(mq, args, kwargs, exc):
    mq.send(b"keep", 2)
    before = snapshot(mq)
    with pytest.raises(exc):
        mq.receive(*args, **kwargs)
    assert snapshot(mq) == before


@pytest.mark.parametrize("kwargs, exc", [
    ({"key": "abc"}, TypeError),
    ({"key": 1.5}, TypeError),
    ({"key": 2**40}, ValueError),
    ({"key": -(2**31) - 1}, ValueError),
    ({"key": None, "mode": 0o1777}, ValueError),
    ({"key": None, "mode": "600"}, TypeError),
])
def test_bad_constructor_arguments(kwargs, exc):
    before = set(q.id for q in unixipc.message_queues())
    with pytest.raises(exc):
        MessageQueue(create=True, **kwargs)
    assert set(q.id for q in unixipc.message_queues()) == before


@pytest.mark.parametrize("kwargs, exc", [
    ({"mode": 0o7777}, ValueError),
    ({"mode": 1.0}, TypeError),
    ({"uid": -5}, ValueError),
    ({"gid": "0"}, TypeError),
    ({"max_bytes": -1}, ValueError),
    ({"max_bytes": 2**70}, ValueError),
])
def test_bad_set_arguments(mq, kwargs, exc):
    before = mq.stat()
    with pytest.raises(exc):
        mq.set(**kwargs)
    after = mq.stat()
    assert (after.perm, after.max_bytes) == (before.perm, before.max_bytes)


@pytest.mark.parametrize("bad, exc", [("1", TypeError), (-1, ValueError), (2**40, ValueError),
                                      (None, TypeError)])
def test_bad_from_id(bad, exc):
    with pytest.raises(exc):
        MessageQueue.from_id(bad)


# ---- opening, context manager, stat, set ---------------------------------------

def test_key_lifecycle(new_queue, ipc_tracker):
    key = 0x5EED0001
    with pytest.raises(FileNotFoundError):
        MessageQueue(key)
    a = new_queue(key, create=True, mode=0o640)
    assert a.created and a.key == key and a.stat().perm.mode == 0o640
    b = MessageQueue(key, create=True)
    assert not b.created and b.id == a.id
    with pytest.raises(FileExistsError):
        MessageQueue(key, exclusive=True)
    c = MessageQueue(key)
    assert c.id == a.id and c.stat().perm.key == key


def test_unsigned_and_signed_keys_are_the_same(new_queue):
    a = new_queue(0xDEADBEEF, create=True)
    assert MessageQueue(0xDEADBEEF - 2**32).id == a.id
    assert a.stat().perm.key == 0xDEADBEEF - 2**32


def test_context_manager_removes_only_what_it_created(new_queue):
    key = 0x5EED0002
    owner = new_queue(key, create=True)
    with MessageQueue(key, create=True) as other:
        assert not other.created
    owner.stat()  # still there
    with MessageQueue(create=True) as mine:
        ident = mine.id
    with pytest.raises(OSError) as info:
        MessageQueue.from_id(ident)
    assert info.value.errno in (errno.EINVAL, errno.EIDRM)


def test_context_manager_tolerates_an_explicit_remove():
    with MessageQueue(create=True) as q:
        q.remove()


def test_private_queues_are_distinct(new_queue):
    a, b = new_queue(), new_queue(None)
    assert a.id != b.id and a.key == 0 and a.created


def test_stat_has_every_field(mq):
    import os

    st0 = mq.stat()
    assert st0.id == mq.id
    assert st0.perm.mode == 0o600 and st0.perm.uid == os.geteuid()
    assert st0.perm.cuid == os.geteuid() and st0.perm.cgid == os.getegid()
    assert (st0.message_count, st0.current_bytes, st0.send_time, st0.receive_time) == (0, 0, 0, 0)
    assert (st0.last_send_pid, st0.last_receive_pid) == (0, 0)
    assert st0.change_time > 0
    assert st0.max_bytes == unixipc.msg_limits().default_max_bytes
    mq.send(b"12345")
    st1 = mq.stat()
    assert (st1.message_count, st1.current_bytes, st1.last_send_pid) == (1, 5, os.getpid())
    assert st1.send_time >= st0.change_time
    mq.receive()
    st2 = mq.stat()
    assert (st2.message_count, st2.last_receive_pid) == (0, os.getpid())
    assert st2.receive_time >= st1.send_time


def test_set_mode_and_max_bytes(mq):
    mq.set(mode=0o640, max_bytes=1000)
    st = mq.stat()
    assert st.perm.mode == 0o640 and st.max_bytes == 1000
    mq.set(uid=st.perm.uid, gid=st.perm.gid)
    assert mq.stat().perm == st.perm


def test_remove_twice(mq):
    mq.remove()
    with pytest.raises(OSError) as info:
        mq.remove()
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        mq.send(b"x")


# ---- peek (MSG_COPY) ------------------------------------------------------------

def test_peek_copies_without_removing(mq):
    for t, d in ((3, b"a"), (1, b"bb"), (2, b"ccc")):
        mq.send(d, t)
    try:
        assert mq.peek() == (3, b"a")
    except OSError as exc:  # pragma: no cover - kernel without MSG_COPY
        assert exc.errno == errno.ENOSYS
        pytest.skip("kernel without CONFIG_CHECKPOINT_RESTORE")
    assert mq.peek(2) == (2, b"ccc")
    with pytest.raises(IndexError):
        mq.peek(3)
    with pytest.raises(MessageTooLongError):
        mq.peek(2, max_size=1)
    assert mq.peek(2, max_size=1, truncate=True) == (2, b"c")
    with pytest.raises(ValueError):
        mq.peek(-1)
    assert mq.stat().message_count == 3
    assert [m.type for m in drain(mq)] == [3, 1, 2]


PEEK_WITHOUT_MSG_COPY = """
import sys
from unixipc import MessageQueue
q = MessageQueue.from_id(int(sys.argv[1]))
try:
    q.peek()
except OSError as exc:
    print(exc.errno, type(exc).__name__, exc)
print(q.stat().message_count)
"""


def test_peek_on_a_kernel_without_msg_copy_is_a_clear_error(mq, cpeer):
    # no_msg_copy makes msgrcv(MSG_COPY) fail with ENOSYS, as Linux without
    # CONFIG_CHECKPOINT_RESTORE does (a seccomp filter), and runs Python.
    mq.send(b"kept", 4)
    out = subprocess.run([cpeer("no_msg_copy"), sys.executable, "-c", PEEK_WITHOUT_MSG_COPY,
                          str(mq.id)], capture_output=True, text=True, timeout=30, check=True)
    first, count = out.stdout.splitlines()
    assert first.startswith(f"{errno.ENOSYS} OSError ")
    assert "MSG_COPY" in first and "CONFIG_CHECKPOINT_RESTORE" in first
    assert count == "1"
    assert mq.receive() == (4, b"kept")


# ---- batches --------------------------------------------------------------------

def test_send_many_and_receive_many(mq):
    msgs = [b"a", (5, b"bb"), Message(7, b"ccc"), bytearray(b"d")]
    assert mq.send_many(msgs, type=2) == 4
    got = mq.receive_many(10)
    assert got == [(2, b"a"), (5, b"bb"), (7, b"ccc"), (2, b"d")]
    assert all(isinstance(m, Message) for m in got)


def test_receive_many_stops_at_max_count_and_selects_types(mq):
    mq.send_many([(t, bytes([t])) for t in (1, 2, 1, 2, 1)])
    assert [m.type for m in mq.receive_many(2, 1)] == [1, 1]
    assert [m.type for m in mq.receive_many(5, 1, exclude=True)] == [2, 2]
    assert mq.receive_many(5) == [(1, b"\x01")]


def test_receive_many_on_empty_queue(mq):
    with pytest.raises(BlockingIOError):
        mq.receive_many(5, block=False)
    with pytest.raises(TimeoutError):
        mq.receive_many(5, timeout=0.05)


def test_receive_many_more_than_one_round(new_queue, msg_sysctl):
    # More messages than one GIL-free round takes (4096).
    msg_sysctl("msgmnb", 10**6)
    mq = new_queue()
    batch = [i.to_bytes(4, "big") + bytes(60) for i in range(5000)]
    assert mq.send_many(batch) == 5000
    got = mq.receive_many(10000)
    assert [m.data for m in got] == batch
    assert mq.stat().message_count == 0


def test_messages_larger_than_8k_go_straight_into_bytes(new_queue, msg_sysctl):
    msg_sysctl("msgmax", 65536)
    msg_sysctl("msgmnb", 200000)
    mq = new_queue()
    big = bytes(range(256)) * 234 + b"tail"  # 59908 bytes
    mq.send(big, 5)
    mq.send(big[:20000], 6)
    got = mq.receive()  # the cached msgmax (8 KiB) is too small: E2BIG, grow, retry
    assert got == (5, big) and hash(got.data) == hash(bytes(big))
    assert mq.receive(max_size=30000) == (6, big[:20000])
    mq.send(big)
    assert mq.receive(max_size=50000, truncate=True) == (1, big[:50000])
    mq.send_many([big, big[:9000]])
    assert mq.receive_many(5) == [(1, big), (1, big[:9000])]
    with pytest.raises(ValueError, match="msgmax"):
        mq.send(bytes(65537))


def test_receive_any_size_after_msgmax_was_lowered(mq, msg_sysctl):
    mq.send(b"m" * 8192)
    msg_sysctl("msgmax", 1024)
    unixipc.msg_limits()  # refresh the cached msgmax: now smaller than the message
    assert mq.receive() == (1, b"m" * 8192)


def test_send_after_msgmax_was_lowered_is_a_value_error(mq, msg_sysctl):
    unixipc.msg_limits()  # msgmax (8192) cached
    msg_sysctl("msgmax", 1024)  # lowered behind the cache's back
    for call in (lambda: mq.send(b"x" * 2000), lambda: mq.send(b"x" * 2000, block=False),
                 lambda: mq.send_many([b"x" * 2000])):
        with pytest.raises(ValueError, match="msgmax"):
            call()
    assert mq.stat().message_count == 0
    mq.send(b"x" * 1024)
    assert mq.receive() == (1, b"x" * 1024)


def test_receive_many_leaves_a_too_long_message_queued(mq):
    mq.send_many([b"ok", b"too long", b"ok2"])
    assert mq.receive_many(10, max_size=3) == [(1, b"ok")]
    with pytest.raises(MessageTooLongError):
        mq.receive_many(10, max_size=3)
    assert mq.receive_many(10, max_size=3, truncate=True) == [(1, b"too"), (1, b"ok2")]


def test_send_many_partial_when_queue_fills(mq):
    mq.set(max_bytes=25)
    n = mq.send_many([b"x" * 10] * 5, block=False)
    assert n == 2
    assert mq.stat().message_count == 2
    with pytest.raises(BlockingIOError):
        mq.send_many([b"x" * 10], block=False)
    t0 = time.monotonic()
    assert mq.send_many([b"x" * 5, b"x" * 10], timeout=0.1) == 1
    assert time.monotonic() - t0 < 1.5
    with pytest.raises(TimeoutError):
        mq.send_many([b"x" * 10], timeout=0.05)


@pytest.mark.parametrize("messages, exc", [
    ([b"ok", "str"], TypeError),
    ([b"ok", (0, b"x")], ValueError),
    ([b"ok", (1, b"x", 3)], TypeError),
    ([b"ok", ("1", b"x")], TypeError),
    ([b"ok", None], TypeError),
    (b"not a list", TypeError),
    ("not a list", TypeError),
    (5, TypeError),
    ([b"ok", b"x" * 20000], ValueError),
])
def test_send_many_checks_everything_first(mq, messages, exc):
    with pytest.raises(exc):
        mq.send_many(messages)
    assert mq.stat().message_count == 0


def test_send_many_too_big_for_the_queue(mq):
    mq.set(max_bytes=50)
    with pytest.raises(ValueError, match="max_bytes"):
        mq.send_many([b"a", b"x" * 51])
    assert mq.stat().message_count == 0
    assert mq.send_many([]) == 0


def test_bad_receive_many_arguments(mq):
    mq.send_many([(1, b"a"), (2, b"b")])
    before = snapshot(mq)
    with pytest.raises(ValueError, match="exclude"):
        mq.receive_many(5, -2, exclude=True)
    with pytest.raises(ValueError):
        mq.receive_many(5, max_size=-1)
    assert snapshot(mq) == before
    with pytest.raises(ValueError):
        mq.receive_many(0)
    with pytest.raises(TypeError):
        mq.receive_many("3")
    with pytest.raises(TypeError):
        mq.receive_many()


# ---- listing --------------------------------------------------------------------

def _proc_msg() -> dict[int, dict[str, int]]:
    with open("/proc/sysvipc/msg") as f:
        lines = f.read().splitlines()
    head = lines[0].split()
    rows = {}
    for line in lines[1:]:
        row = dict(zip(head, (int(v) for v in line.split())))
        rows[row["msqid"]] = row
    return rows


def test_message_queues_agree_with_proc_and_ipcs(new_queue):
    a = new_queue(0x5EED0003, create=True, mode=0o644)
    b = new_queue()
    a.send(b"abc", 2)
    b.send_many([b"1", b"22"])
    listed = {st.id: st for st in unixipc.message_queues()}
    assert {a.id, b.id} <= set(listed)
    proc = _proc_msg()
    assert set(listed) == set(proc)
    for ident, st in listed.items():
        row = proc[ident]
        assert st.perm.key == row["key"] and st.perm.mode == int(str(row["perms"]), 8) & 0o777
        assert (st.current_bytes, st.message_count) == (row["cbytes"], row["qnum"])
        assert (st.last_send_pid, st.last_receive_pid) == (row["lspid"], row["lrpid"])
        assert (st.perm.uid, st.perm.cuid) == (row["uid"], row["cuid"])
        assert (st.send_time, st.change_time) == (row["stime"], row["ctime"])
    out = subprocess.run(["ipcs", "-q"], capture_output=True, text=True, check=True,
                         timeout=10).stdout
    ipcs_ids = {int(line.split()[1]) for line in out.splitlines()
                if line.startswith("0x")}
    assert ipcs_ids == set(listed)
    row_a = next(line.split() for line in out.splitlines()
                 if line.startswith("0x") and int(line.split()[1]) == a.id)
    assert row_a[0] == unixipc.keys.format_key(0x5EED0003)
    assert (int(row_a[3], 8), int(row_a[4]), int(row_a[5])) == (0o644, 3, 1)


def test_limits_match_proc():
    lim = unixipc.msg_limits()
    for name, value in (("msgmax", lim.max_message_size), ("msgmnb", lim.default_max_bytes),
                        ("msgmni", lim.max_queues)):
        with open(f"/proc/sys/kernel/{name}") as f:
            assert int(f.read()) == value


def test_usage_matches_ipcs_u(new_queue):
    """msg_usage() is MSG_INFO: queues, messages and bytes, as ipcs -u."""
    from support import ipcs_u

    before = unixipc.msg_usage()
    a, b = new_queue(create=True), new_queue(create=True)
    a.send(b"hello")
    a.send(b"x" * 100, type=2)
    b.send(b"")
    used = unixipc.msg_usage()
    theirs = ipcs_u()
    assert (used.queues, used.messages, used.bytes) == (
        theirs["allocated queues"][0], theirs["used headers"][0], theirs["used space"][0])
    assert (used.queues, used.messages, used.bytes) == (
        before.queues + 2, before.messages + 3, before.bytes + 105)
    a.receive()
    assert unixipc.msg_usage().bytes == before.bytes + 100
