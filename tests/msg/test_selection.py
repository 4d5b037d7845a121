"""msgrcv's type selection, MSG_EXCEPT, MSG_NOERROR and E2BIG."""

from __future__ import annotations

import errno

import pytest

import unixipc


def fill(queue, types):
    for t in types:
        queue.send(f"m{t}".encode(), type=t)


@pytest.mark.parametrize("types, want, got", [
    ([4, 3, 2, 1], 0, 4),      # 0: the first message
    ([4, 3, 2, 1], 2, 2),      # > 0: the first of that type
    ([4, 3, 2, 1], -2, 1),     # < 0: the lowest type <= 2 (Linux's answer)
    ([4, 3, 2, 1], -3, 1),
    ([5, 3, 9, 3], -4, 3),     # lowest type wins, first of equals
    ([5, 2, 9, 2], -9, 2),
])
def test_type_selection(queue, types, want, got):
    fill(queue, types)
    assert queue.receive(type=want).type == got


def test_negative_selection_takes_first_of_lowest(queue):
    queue.send(b"a", type=2)
    queue.send(b"b", type=1)
    queue.send(b"c", type=1)
    assert queue.receive(type=-5) == (1, b"b")


def test_exclude_takes_first_of_any_other_type(queue):
    fill(queue, [4, 4, 3, 2])
    assert queue.receive(type=4, exclude=True).type == 3
    assert queue.receive(type=4, exclude=True).type == 2
    with pytest.raises(BlockingIOError):
        queue.receive(type=4, exclude=True, block=False)


@pytest.mark.parametrize("bad", [0, -1])
def test_exclude_needs_positive_type(queue, bad):
    queue.send(b"x")
    with pytest.raises(ValueError):
        queue.receive(type=bad, exclude=True)
    assert queue.stat().message_count == 1


def test_e2big_leaves_message_queued(queue):
    queue.send(b"0123456789", type=7)
    with pytest.raises(unixipc.MessageTooLongError) as info:
        queue.receive(max_size=4)
    assert info.value.errno == errno.E2BIG
    assert queue.stat().message_count == 1
    assert queue.receive() == (7, b"0123456789")


def test_truncate_drops_the_tail(queue):
    queue.send(b"0123456789", type=7)
    assert queue.receive(max_size=4, truncate=True) == (7, b"0123")
    assert queue.stat().message_count == 0


def test_non_blocking_empty_is_blocking_io_error(queue):
    with pytest.raises(BlockingIOError) as info:
        queue.receive(block=False)
    assert info.value.errno == errno.ENOMSG
    with pytest.raises(BlockingIOError):
        queue.receive(type=3, block=False)


def test_non_blocking_send_on_full_queue(queue):
    queue.set(max_bytes=100)
    queue.send(b"x" * 100)
    with pytest.raises(BlockingIOError) as info:
        queue.send(b"y", block=False)
    assert info.value.errno == errno.EAGAIN
    assert queue.stat().message_count == 1


def test_timeout_zero_is_one_attempt(queue):
    with pytest.raises(TimeoutError):
        queue.receive(timeout=0)
    queue.send(b"now")
    assert queue.receive(timeout=0) == (1, b"now")
