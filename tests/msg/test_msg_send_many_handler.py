"""send_many never swallows an exception raised by a signal handler, even
an OSError once part of the batch was sent (defect: OSErrors were taken for
the call's own failure and dropped)."""

from __future__ import annotations

import errno
import signal

import pytest

import unixipc


class HandlerError(OSError):
    pass


def _raise_in_handler(signum, frame):
    raise HandlerError(errno.EIO, "raised by the handler")


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_handler_oserror_after_partial_batch_propagates(timeout):
    with unixipc.MessageQueue(create=True) as mq:
        mq.set(max_bytes=64)  # room for two 32-byte messages, then send_many blocks
        old = signal.signal(signal.SIGALRM, _raise_in_handler)
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        try:
            with pytest.raises(HandlerError):
                mq.send_many([b"x" * 32] * 4, timeout=timeout)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        assert mq.stat().message_count == 2  # the part sent stays sent


def test_own_timeout_after_partial_batch_still_reports_count():
    with unixipc.MessageQueue(create=True) as mq:
        mq.set(max_bytes=64)
        assert mq.send_many([b"y" * 32] * 4, timeout=0.05) == 2
