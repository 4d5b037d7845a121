"""The iceoryx2 peer of the shared-memory channel benchmark (a bench extra:
skipped where iceoryx2 is not installed)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

from unixipc.bench import twoproc


def _leftovers() -> set[str]:
    return set(glob.glob("/dev/shm/uxb*")) | set(glob.glob("/tmp/unixipc-iox2-*"))


def test_missing_iceoryx2_leaves_the_peer_out():
    code = ("import sys; sys.modules['iceoryx2'] = None\n"
            "from unixipc.bench.transports import collect\n"
            "print(sorted(t.impl for t in collect('shmch', peers=True)))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "'unixipc'" in r.stdout
    assert "iceoryx2" not in r.stdout


@pytest.fixture(params=["busy-polling", "events"])
def transport(request):
    pytest.importorskip("iceoryx2", reason="iceoryx2 is a bench extra: pip install iceoryx2")
    from unixipc.bench import iceoryx2_peer
    before = _leftovers()
    yield (iceoryx2_peer.iceoryx2_transport() if request.param == "busy-polling"
           else iceoryx2_peer.iceoryx2_events_transport())
    assert _leftovers() <= before  # its root directory and /dev/shm objects are gone


@pytest.mark.timeout(60)
def test_round_trip_and_one_way_lose_nothing(transport):
    r = twoproc.round_trip(transport, 64, 200)
    assert r.impl.startswith("iceoryx2") and r.value > 0
    for size in (64, 65536):  # the one-way sink's last message follows a removed publisher
        rate = twoproc.one_way(transport, size, 500)[0]
        assert rate.value > 0


@pytest.mark.timeout(60)
def test_a_message_left_unread_is_an_error_not_a_figure(transport):
    link = transport.open(64)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            link.in_child()
            link.child.take()  # one of the two
            link.child_done()
            code = 0
        finally:
            os._exit(code)
    link.in_parent()
    link.parent.send(b"a" * 64)
    link.parent.send(b"b" * 64)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    with pytest.raises(RuntimeError, match="parent sent 2, child took 1"):
        link.close()
