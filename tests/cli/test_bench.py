"""unixipc bench: parseable figures, quickly."""

from __future__ import annotations

import json

from support import sysv_objects


def test_bench_json_for_each_mechanism(cli):
    before = sysv_objects()
    r = cli("bench", "--json", "--sizes", "64,4096", "--count", "200")
    assert r.status == 0, r.err
    results = json.loads(r.out)
    workloads = {x["workload"] for x in results}
    for mech in ("mq", "sem", "shm"):
        assert any(w.startswith(mech + " round trip") for w in workloads), mech
    for x in results:
        assert x["value"] > 0 and x["unit"] in ("us", "msg/s", "MB/s")
        if x["unit"] == "us":
            assert x["extra"]["p99_us"] >= x["value"]
    assert sysv_objects() <= before


def test_bench_only_and_peers(cli):
    r = cli("bench", "--only", "mq", "--peers", "--sizes", "64", "--count", "200", "--json")
    assert r.status == 0, r.err
    impls = {x["impl"] for x in json.loads(r.out)}
    try:
        import sysv_ipc  # noqa: F401 - a bench extra, maybe not installed
        has_peer = True
    except ImportError:
        has_peer = False
    assert "unixipc" in impls and ("sysv_ipc" in impls) == has_peer


def test_bench_table_and_plot_message(cli, tmp_path):
    r = cli("bench", "--only", "sem", "--count", "200")
    assert r.status == 0 and "sem round trip" in r.out and "vs unixipc" in r.out
    r = cli("bench", "--only", "sem", "--count", "200", "--plot", str(tmp_path / "x.png"))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert r.status == 1 and "unixipc[plot]" in r.err
    else:
        assert r.status == 0 and (tmp_path / "x.png").stat().st_size > 0


def test_bench_only_pipe_json_quickly(cli):
    r = cli("bench", "--only", "pipe", "--json", "--sizes", "64,65536", "--count", "300")
    assert r.status == 0, r.err
    results = json.loads(r.out)
    assert {x["impl"] for x in results} == {"unixipc"}
    names = {x["workload"] for x in results}
    assert {"pipe round trip 64 B", "pipe one-way 65536 B MB/s"} <= names


def test_mechanism_list_matches_the_registry():
    from unixipc.bench import MECHANISMS
    from unixipc.bench.transports import REGISTRY

    assert tuple(REGISTRY) == MECHANISMS
