"""Every bad argument fails before any system call and changes nothing."""

from __future__ import annotations

import pytest

import unixipc


@pytest.mark.parametrize("kwargs, exc", [
    ({"type": 0}, ValueError),
    ({"type": -1}, ValueError),
    ({"type": "1"}, TypeError),
    ({"type": 1.0}, TypeError),
    ({"type": 2**70}, ValueError),
    ({"timeout": -1}, ValueError),
    ({"timeout": "soon"}, TypeError),
])
def test_bad_send_arguments(queue, kwargs, exc):
    with pytest.raises(exc):
        queue.send(b"x", **kwargs)
    assert queue.stat().message_count == 0


@pytest.mark.parametrize("data", ["text", 12, None, [1, 2]])
def test_send_data_must_be_bytes_like(queue, data):
    with pytest.raises(TypeError):
        queue.send(data)
    assert queue.stat().message_count == 0


@pytest.mark.parametrize("kwargs, exc", [
    ({"max_size": -1}, ValueError),
    ({"max_size": 2**40}, ValueError),
    ({"max_size": "8"}, TypeError),
    ({"type": "1"}, TypeError),
    ({"timeout": float("nan")}, ValueError),
    ({"bogus": 1}, TypeError),
])
def test_bad_receive_arguments(queue, kwargs, exc):
    queue.send(b"stays")
    with pytest.raises(exc):
        queue.receive(**kwargs)
    assert queue.stat().message_count == 1


@pytest.mark.parametrize("args, kwargs, exc", [
    (("1",), {}, TypeError),
    ((2**32,), {"create": True}, ValueError),
    ((None,), {}, ValueError),                  # private queue must be created
    ((1234,), {"exclusive": True}, ValueError),  # exclusive without create
    ((None,), {"create": True, "mode": 0o1000}, ValueError),
    ((None,), {"create": True, "mode": "0600"}, TypeError),
])
def test_bad_constructor_arguments(args, kwargs, exc):
    before = {q.id for q in unixipc.message_queues()}
    with pytest.raises(exc):
        unixipc.MessageQueue(*args, **kwargs)
    assert {q.id for q in unixipc.message_queues()} == before


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), ("3", TypeError), (True, TypeError)])
def test_bad_from_id(bad, exc):
    with pytest.raises(exc):
        unixipc.MessageQueue.from_id(bad)


def test_bad_set_arguments(queue):
    with pytest.raises(ValueError):
        queue.set(mode=0o7777)
    with pytest.raises(ValueError):
        queue.set(max_bytes=-5)
    assert queue.stat().perm.mode == 0o600
