"""send_many / receive_many."""

from __future__ import annotations

import pytest

from support import Child


def test_send_many_mixed_items_in_order(queue):
    n = queue.send_many([b"a", (5, b"b"), bytearray(b"c"), (2, memoryview(b"d"))], type=3)
    assert n == 4
    got = queue.receive_many(10)
    assert got == [(3, b"a"), (5, b"b"), (3, b"c"), (2, b"d")]


def test_receive_many_respects_max_count_and_type(queue):
    queue.send_many([(1, b"1"), (2, b"2"), (1, b"3"), (2, b"4")])
    assert queue.receive_many(1, type=2) == [(2, b"2")]
    assert queue.receive_many(5, type=1) == [(1, b"1"), (1, b"3")]
    assert queue.receive_many(5) == [(2, b"4")]


def test_send_many_validates_everything_first(queue):
    with pytest.raises(TypeError):
        queue.send_many([b"ok", "not bytes"])
    with pytest.raises(ValueError):
        queue.send_many([b"ok", (0, b"bad type")])
    assert queue.stat().message_count == 0


def test_send_many_partial_failure_reports_count(queue):
    queue.set(max_bytes=10)
    with pytest.raises(BlockingIOError) as info:
        queue.send_many([b"12345", b"12345", b"x"], block=False)
    assert info.value.count == 2
    assert queue.stat().message_count == 2


def test_receive_many_waits_for_the_first_only(queue):
    def later():
        import time

        time.sleep(0.2)
        queue.send_many([b"a", b"b", b"c"])

    child = Child(later)
    got = queue.receive_many(100, timeout=10)
    child.result(timeout=10)
    assert [m.data for m in got][:1] == [b"a"]
    rest = queue.receive_many(100, block=False) if len(got) < 3 else []
    assert [m.data for m in got + rest] == [b"a", b"b", b"c"]


def test_receive_many_timeout(queue):
    with pytest.raises(TimeoutError):
        queue.receive_many(10, timeout=0.05)


def test_bad_max_count(queue):
    with pytest.raises(ValueError):
        queue.receive_many(0)
