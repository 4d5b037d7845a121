"""Interoperation with C programs, ipcs and /proc/sysvipc/msg."""

from __future__ import annotations

import subprocess

import unixipc


def test_c_sender_python_receiver_and_back(queue, cpeer):
    exe = cpeer("msg_peer")
    # The C peer sends three messages, then echoes two it receives (types
    # and bytes exact), in the struct {long mtype; char mtext[]} layout.
    proc = subprocess.Popen([exe, str(queue.id)], stdout=subprocess.PIPE, text=True)
    got = [queue.receive(timeout=10) for _ in range(3)]
    assert got == [(1, b"hello from C"), (42, bytes(range(256))), (2**40, b"")]
    queue.send(b"\x00binary\xff", type=7)
    queue.send(b"second", type=3)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out.splitlines() == ["7 8 0062696e617279ff", "3 6 7365636f6e64"]


def test_listing_agrees_with_proc_and_ipcs(make_queue, ipc_tracker):
    mine = make_queue(mode=0o640)
    mine.send(b"abc")
    other = ipc_tracker.ipcmk("-Q")
    listed = {q.id: q for q in unixipc.message_queues()}
    assert {mine.id, other} <= set(listed)
    with open("/proc/sysvipc/msg") as f:
        header, *rows = f.read().splitlines()
    cols = header.split()
    for row in rows:
        fields = dict(zip(cols, row.split()))
        q = listed[int(fields["msqid"])]
        assert q.perm.key == unixipc.keys.normalize_key(int(fields["key"]))
        assert q.perm.mode == int(fields["perms"], 8) & 0o777
        assert q.current_bytes == int(fields["cbytes"])
        assert q.message_count == int(fields["qnum"])
        assert q.perm.uid == int(fields["uid"])
    ipcs = subprocess.run(["ipcs", "-q"], capture_output=True, text=True, check=True,
                          timeout=10).stdout
    ids = {int(line.split()[1]) for line in ipcs.splitlines() if line.startswith("0x")}
    assert ids == set(listed)
    assert listed[mine.id].message_count == 1 and listed[mine.id].current_bytes == 3
