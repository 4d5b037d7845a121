"""unixipc bench: parseable figures, quickly."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from unixipc.cli import ExitStatus

from support import SANITIZED, sysv_objects


def test_bench_json_for_each_mechanism(cli):
    before = sysv_objects()
    r = cli("bench", "--json", "--sizes", "64,4096", "--count", "200")
    assert r.status == 0, r.err
    results = json.loads(r.out)
    workloads = {x["workload"] for x in results}
    # every mechanism unixipc offers, round trip and one-way
    for name in ("pipe", "fifo", "msg", "sem", "shm", "unix stream", "unix seqpacket", "tcp",
                 "shmch", "queue"):
        assert any(w.startswith(name + " round trip") for w in workloads), name
        assert any(w.startswith(name + " one-way") for w in workloads), name
    assert {x["impl"] for x in results} == {"unixipc"}  # peers only with --peers
    for x in results:
        assert x["value"] > 0 and x["unit"] in ("us", "msg/s", "MB/s")
        if x["unit"] == "us":
            assert x["extra"]["p99_us"] >= x["value"]
    assert sysv_objects() <= before


@pytest.mark.parametrize("mechanism", ["msg", "sem"])
def test_bench_only_and_peers(cli, mechanism):
    r = cli("bench", "--only", mechanism, "--peers", "--sizes", "64", "--count", "200", "--json")
    assert r.status == 0, r.err
    impls = {x["impl"] for x in json.loads(r.out)}
    try:
        import sysv_ipc  # noqa: F401 - a bench extra, maybe not installed
        has_peer = True
    except ImportError:
        has_peer = False
    assert "unixipc" in impls and ("sysv_ipc" in impls) == has_peer


def test_bench_table_and_plot_message(cli, tmp_path):
    r = cli("bench", "--only", "sem", "--only", "msg", "--sizes", "64", "--count", "200")
    assert r.status == 0 and "vs unixipc" in r.out and "p99" in r.out.splitlines()[0]
    trip = next(line for line in r.out.splitlines() if line.startswith("msg round trip 64 B"))
    median, unit, p99 = trip.split()[6:9]
    assert unit == "us" and 0 < float(median) <= float(p99)
    r = cli("bench", "--only", "sem", "--count", "200", "--plot", str(tmp_path / "x.png"))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert r.status == 1 and "unixipc[plot]" in r.err
    else:
        assert r.status == 0 and (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert r.err == f"unixipc bench: chart written to {tmp_path / 'x.png'}\n"


def test_bench_only_pipe_json_quickly(any_cli):
    t0 = time.monotonic()
    r = any_cli("bench", "--only", "pipe", "--json", "--sizes", "64,65536", "--count", "300")
    assert r.status == 0, r.err
    assert time.monotonic() - t0 < 30
    results = json.loads(r.out)
    assert {x["impl"] for x in results} == {"unixipc"}
    by_name = {x["workload"]: x for x in results}
    assert set(by_name) == {"pipe round trip 64 B", "pipe one-way 64 B", "pipe one-way 64 B MB/s",
                            "pipe round trip 65536 B", "pipe one-way 65536 B",
                            "pipe one-way 65536 B MB/s"}
    trip = by_name["pipe round trip 64 B"]
    assert trip["unit"] == "us" and 0 < trip["value"] <= trip["extra"]["p99_us"]
    rate, mbs = by_name["pipe one-way 65536 B"], by_name["pipe one-way 65536 B MB/s"]
    assert rate["unit"] == "msg/s" and mbs["unit"] == "MB/s"
    assert abs(mbs["value"] - rate["value"] * 65536 / 1e6) < 1e-6 * mbs["value"]


def test_bench_default_sizes(cli):
    from unixipc.cli.app import build_parser
    from unixipc.cli import Environment

    args = build_parser(Environment()).parse_args(["bench"])
    assert args.sizes == [64, 4096, 65536] and args.only is None and not args.peers


def test_bench_peers_add_multiprocessing_pipe_and_queue(cli):
    r = cli("bench", "--only", "pipe", "--peers", "--sizes", "64", "--count", "200", "--json")
    assert r.status == 0, r.err
    impls = {x["impl"] for x in json.loads(r.out)}
    assert {"unixipc", "os.read/os.write", "multiprocessing.Pipe",
            "multiprocessing.Queue"} <= impls
    r = cli("bench", "--only", "unix", "--peers", "--sizes", "64", "--count", "200", "--json")
    assert "multiprocessing" in {x["impl"] for x in json.loads(r.out)}


def test_bench_shmch_and_queue_rows_with_their_peers(cli):
    r = cli("bench", "--only", "shmch", "--only", "queue", "--peers", "--sizes", "64",
            "--count", "200", "--json")
    assert r.status == 0, r.err
    rows = json.loads(r.out)
    by_workload: dict[str, set[str]] = {}
    for x in rows:
        by_workload.setdefault(x["workload"], set()).add(x["impl"])
    assert {"unixipc", "unixipc pipe", "unixipc unix channel", "os.pipe",
            "multiprocessing.Pipe"} <= by_workload["shmch round trip 64 B"]
    assert {"unixipc", "multiprocessing.Queue",
            "multiprocessing.SimpleQueue"} <= by_workload["queue round trip 64 B"]
    assert {"unixipc", "multiprocessing.Queue"} <= by_workload["queue one-way 64 B"]


def test_bench_progress_bar_on_a_terminal(cli):
    import io

    from unixipc.cli import Environment, main

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err, out = Terminal(), io.StringIO()
    status = main(["bench", "--only", "sem", "--only", "msg", "--sizes", "64", "--count", "200"],
                  Environment(stdout=out, stderr=err))
    assert status == 0
    frames = err.getvalue().split("\r")
    assert "[" + "." * 24 + "] 1/2 msg 64 B (unixipc)" in frames[1]
    assert "] 2/2 sem 0 B (unixipc)" in frames[2]
    assert frames[-1] == ""  # the bar is erased before the table
    assert "msg round trip 64 B" in out.getvalue() and "\r" not in out.getvalue()
    r = cli("bench", "--only", "sem", "--count", "200")  # not a terminal: no bar
    assert r.err == ""


def test_bench_plot_without_matplotlib_says_how_to_get_it(cli, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    t0 = time.monotonic()
    r = cli("bench", "--plot", str(tmp_path / "x.png"))
    assert r.status == ExitStatus.ERROR and time.monotonic() - t0 < 5  # before measuring
    assert r.err == ("unixipc bench: --plot needs matplotlib: "
                     "pip install 'unixipc[plot]'\n")
    assert not (tmp_path / "x.png").exists()


def test_mechanism_list_matches_the_registry():
    from unixipc.bench import MECHANISMS
    from unixipc.bench.transports import REGISTRY

    assert tuple(REGISTRY) == MECHANISMS


def test_bench_ctrl_c_is_130_and_leaves_nothing(tmp_path):
    """Ctrl-C (SIGINT to the process group) while a measurement runs: the
    child and the measurement's queue are gone, the status is 130."""
    import os
    import signal
    import subprocess

    from support import wait_until

    before = sysv_objects()
    proc = subprocess.Popen([sys.executable, "-m", "unixipc", "bench", "--only", "msg",
                             "--sizes", "64", "--count", "10000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_until(lambda: sysv_objects() - before, timeout=30)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == ExitStatus.INTERRUPTED
    assert err.endswith(b"unixipc: interrupted\n") and out == b""
    assert sysv_objects() <= before
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing left in its process group


def test_mp_queue_link_close_leaves_no_thread_for_the_next_fork():
    # The engine forks the next child right after a link closes. A feeder
    # thread that join() has returned from but that is still exiting in the
    # kernel may hold an allocator lock, and the child inherits it held (the
    # ASan leg hung in multiprocessing.Queue.get this way). After close(), the
    # thread must be gone from /proc/self/task. Without the wait it is still
    # there in about half of the rounds.
    from unixipc.bench.transports import mp_queue_transport

    transport = mp_queue_transport()
    for _ in range(40):
        link = transport.open(8)
        link.parent.send(b"12345678")  # starts the parent's feeder thread
        feeder = link.parent.out._thread
        link.child.recv(8)
        link.close()
        assert not os.path.exists(f"/proc/self/task/{feeder.native_id}")


def test_each_implementation_keeps_its_colour():
    """pyzmq ipc must not take unixipc's colour, nor pyzmq tcp the raw
    os one, whatever was measured and in which order (issue 13)."""
    from unixipc.cli.commands.bench import IMPL_COLOURS, impl_colours

    every = list(IMPL_COLOURS)
    assert len(set(IMPL_COLOURS.values())) == len(every)
    one = impl_colours(["pyzmq ipc", "pyzmq tcp", "unixipc"])
    two = impl_colours(["unixipc", "os.read/os.write", "pyzmq tcp", "pyzmq ipc", "new-lib"])
    assert one["unixipc"] == two["unixipc"] == IMPL_COLOURS["unixipc"]
    assert one["pyzmq ipc"] == two["pyzmq ipc"] != IMPL_COLOURS["unixipc"]
    assert one["pyzmq tcp"] == two["pyzmq tcp"] != IMPL_COLOURS["os.read/os.write"]
    assert two["new-lib"] not in IMPL_COLOURS.values()


def _need_matplotlib() -> None:
    """matplotlib, the plot extra: a failure in CI's plain legs when it is
    missing ('.[test,plot]' installs it), a skip elsewhere and in the asan
    leg, which does not install it (matplotlib's C++ font module aborts
    under libasan's LD_PRELOAD)."""
    if SANITIZED:
        pytest.skip("the asan leg has no plot extra: matplotlib's C++ module aborts "
                    "under libasan's LD_PRELOAD")
    import importlib

    try:
        importlib.import_module("matplotlib")
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("matplotlib is missing: CI's plain legs must install "
                        "'.[test,plot]' for the chart tests")
        pytest.skip("matplotlib is not installed (pip install -e '.[plot]')")


def test_plot_has_round_trips_and_throughput(tmp_path):
    """Each bar has its implementation's own colour (an unknown one a spare
    colour), in both panels and the legend, and the bars' lengths are the
    figures: round trips (us) on the left, throughput (msg/s) on the right."""
    _need_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unixipc.bench.harness import Result
    from unixipc.cli.commands import bench

    results = [Result("pipe round trip 64 B", "unixipc", 5.0, "us", {"p99_us": 9.0}),
               Result("pipe round trip 64 B", "pyzmq ipc", 30.0, "us", {"p99_us": 40.0}),
               Result("pipe round trip 64 B", "pyzmq tcp", 45.0, "us", {"p99_us": 50.0}),
               Result("pipe round trip 64 B", "new-lib", 7.0, "us", {"p99_us": 8.0}),
               Result("pipe one-way 64 B", "unixipc", 900000.0, "msg/s", {}),
               Result("pipe one-way 64 B MB/s", "unixipc", 57.6, "MB/s", {}),
               Result("pipe one-way 64 B", "pyzmq ipc", 300000.0, "msg/s", {}),
               Result("pipe one-way 64 B", "pyzmq tcp", 200000.0, "msg/s", {}),
               Result("pipe one-way 64 B", "new-lib", 800000.0, "msg/s", {})]
    saved = []
    real_savefig = matplotlib.figure.Figure.savefig

    def spy(fig, path, **kw):
        saved.append(fig)
        return real_savefig(fig, path, **kw)

    matplotlib.figure.Figure.savefig = spy
    try:
        bench._plot(results, str(tmp_path / "b.png"))
    finally:
        matplotlib.figure.Figure.savefig = real_savefig
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    (fig,) = saved
    left, right = fig.axes[:2]
    assert "round trip" in left.get_xlabel() and "throughput" in right.get_xlabel()
    expected = bench.impl_colours(["unixipc", "pyzmq ipc", "pyzmq tcp", "new-lib"])
    assert expected["new-lib"] not in bench.IMPL_COLOURS.values()
    for ax, unit in ((left, "us"), (right, "msg/s")):
        rows = [r for r in results if r.unit == unit]
        labels = [t.get_text() for t in ax.get_yticklabels()]
        bars = sorted(ax.patches, key=lambda p: -p.get_y())  # the first result at the top
        assert len(bars) == len(rows) == len(labels)
        for bar, row in zip(bars, rows):
            assert matplotlib.colors.to_hex(bar.get_facecolor()) == expected[row.impl], row
            assert bar.get_width() == pytest.approx(row.value), row  # the figure is plotted
        assert [label.rsplit("(", 1)[1].rstrip(")") for label in labels] == [
            r.impl for r in rows]
    legend = {t.get_text(): matplotlib.colors.to_hex(h.get_facecolor())
              for t, h in zip(right.get_legend().get_texts(),
                              right.get_legend().legend_handles) if t.get_text() != "p99"}
    assert legend == expected
    plt.close("all")
