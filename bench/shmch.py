"""The shared-memory channel and queues against a C ring and the peers, in one run.

    .venv/bin/python bench/shmch.py [--quick] [--json FILE]

Rows (a parent and a forked child each time):
- shmch: 64 B round trip (median, p99) and one-way 64 B / 4 KiB / 64 KiB,
  single calls and batches of 64, for a C ring of this bench's own (both
  sides spinning, no guarantees: the physical limit), ShmChannel, unixipc's
  pipe and Unix socket channel, raw os.pipe, multiprocessing.Pipe, pyzmq
  ipc://, iceoryx2 (lossless configuration, busy-polling receiver: see
  bench/README.md) and (batched) faster-fifo;
- queue: 64 B round trip and one-way for unixipc.Queue, multiprocessing's
  Queue and SimpleQueue, faster-fifo; objects one way (a small dict, 1 MiB
  and 64 MiB numpy arrays) and numpy's own array.copy() in one process;
- 4 producer and 4 consumer processes on one channel or queue;
- the CPU an idle receiver uses while it waits a second.
Then the issue's targets, as ratios of this run. Peers not installed are
left out (pip install 'unixipc[bench]').
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from unixipc import Queue, ShmChannel
from unixipc.bench import harness, twoproc
from unixipc.bench.shmch import (RING, batched_one_way, fan_in_out, idle_cpu, objects_one_way,
                                 python_floor)
from unixipc.bench.transports import collect

HERE = Path(__file__).resolve().parent


def _c_ring(trips: int) -> list[harness.Result]:
    exe = harness.build_c(HERE / "c" / "ring_bench.c")
    if exe is None:
        print("  (no C compiler: the C ring is left out)", file=sys.stderr)
        return []
    rows = harness.run_c(exe, str(trips))
    return [harness.Result(str(r["workload"]), str(r["impl"]), float(r["value"]), str(r["unit"]),
                           {k: float(v) for k, v in r.items() if k.endswith("_us")})
            for r in rows]


def _best(runs: list[list[harness.Result]]) -> list[harness.Result]:
    """Each figure's best over several runs of the same workloads (the
    two CPUs of a small VM are not always equally fast: the C ring and
    ShmChannel, and each queue's objects, are measured ROUNDS times, in
    turn, and compared at their best)."""
    best: dict[tuple[str, str], harness.Result] = {}
    for run in runs:
        for r in run:
            key = (r.workload, r.impl)
            old = best.get(key)
            if old is None or ((r.value < old.value) if r.lower_is_better else (r.value > old.value)):
                best[key] = r
    return list(best.values())


ROUNDS = 3


def _faster_fifo() -> Any:
    try:
        import faster_fifo
    except ImportError:
        return None
    return faster_fifo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (noisier)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    args = parser.parse_args()
    trips = 3000 if args.quick else 20000
    results: list[harness.Result] = []

    def step(what: str) -> None:
        print(f"  measuring {what}...", file=sys.stderr)

    def shmch_and_queue(t: Any) -> list[harness.Result]:
        rows = [twoproc.round_trip(t, 64, trips)]
        for size, count in ((64, trips * 20), (4096, trips * 4), (65536, trips // 2)):
            if t.name == "queue" and size == 65536:
                continue
            rows += twoproc.one_way(t, size, count)
        return rows

    batches = ((64, trips * 40, 64), (4096, trips * 8, 64),
               (65536, trips, 16))  # a batch: at most a quarter of the ring

    def channel_batches() -> list[harness.Result]:
        rows: list[harness.Result] = []
        for size, count, batch in batches:
            rows += batched_one_way(
                "shmch", "unixipc", lambda: ShmChannel(capacity=RING),
                lambda ch, msgs: ch.send_many(msgs), lambda ch: len(ch.receive_many(64)),
                size, count, batch)
        return rows

    all_cpus = os.sched_getaffinity(0)
    ring_runs: list[list[harness.Result]] = []
    channel_runs: list[list[harness.Result]] = []
    channel = collect("shmch", peers=False)[0]
    for round_ in range(ROUNDS):
        step(f"the C ring and ShmChannel, round {round_ + 1} of {ROUNDS}")
        os.sched_setaffinity(0, all_cpus)  # the C ring pins its own two processes
        ring_runs.append(_c_ring(trips * 5))
        if len(all_cpus) >= 2:
            cpus = sorted(all_cpus)
            twoproc.pin(cpus[0], cpus[1])  # parent and child on CPUs of their own
        channel_runs.append(shmch_and_queue(channel) + channel_batches())
    results += _best(ring_runs) + _best(channel_runs)
    if importlib.util.find_spec("iceoryx2") is None:
        print("  (iceoryx2 is not installed: left out; pip install iceoryx2)", file=sys.stderr)
    for mech in ("shmch", "queue"):
        for t in collect(mech, peers=True):
            if mech == "shmch" and t.impl == channel.impl:
                continue  # measured above
            step(f"{t.name} ({t.impl})")
            results += shmch_and_queue(t)

    ff = _faster_fifo()
    for size, count, batch in batches:
        if ff is not None:
            step(f"faster-fifo batches of {size} B")
            results += batched_one_way(
                "shmch", "faster-fifo", lambda: ff.Queue(max_size_bytes=RING),
                lambda q, msgs: q.put_many(msgs, timeout=60),
                lambda q: len(q.get_many(max_messages_to_get=64, timeout=60)), size, count,
                batch)

    # Objects run unpinned, as pipelines do: a queue's put may hand over to
    # a feeder thread, which pinning would put on the same CPU as the
    # pickling thread (every implementation measured the same way).
    twoproc.pin_off()
    small = {"id": 12345, "name": "job", "tags": ["a", "b"], "score": 0.5}
    objects: list[tuple[str, Any, int]] = [
        ("queue objects: small dict", small, trips * 5),
        ("queue objects: numpy 1 MiB", np.ones(1 << 17), 40 if args.quick else 200),
        ("queue objects: numpy 64 MiB", np.ones(1 << 23), 3 if args.quick else 10)]
    makers: list[tuple[str, Callable[[], Any], Callable[[Any], None] | None]] = [
        ("unixipc", lambda: Queue(capacity=RING), None),
        ("multiprocessing.Queue", multiprocessing.Queue, twoproc.flush_mp_queue)]
    if ff is not None:
        makers.append(("faster-fifo", lambda: ff.Queue(max_size_bytes=200 << 20), None))
    for label, obj, count in objects:
        # each implementation ROUNDS times, in turn, at its best (as the
        # channel rows: one run of a pickling pipeline swings by a third)
        object_runs: list[list[harness.Result]] = []
        for round_ in range(ROUNDS):
            for impl, make, flush in makers:
                step(f"{label} ({impl}), round {round_ + 1} of {ROUNDS}")
                object_runs.append(objects_one_way(label, impl, make, obj, count, flush))
        results += _best(object_runs)
        if isinstance(obj, np.ndarray):
            rate = 0.0
            for _ in range(ROUNDS):  # at its best too
                t0 = time.perf_counter()
                for _ in range(count):
                    obj.copy()
                rate = max(rate, count / (time.perf_counter() - t0))
            results += [harness.Result(label, "array.copy()", rate, "msg/s"),
                        harness.Result(label + " MB/s", "array.copy()",
                                       rate * obj.nbytes / 1e6, "MB/s")]

    per = 5000 if args.quick else 50000
    step("fan-in/fan-out")
    results.append(fan_in_out("unixipc", lambda: ShmChannel(capacity=RING),
                              lambda ch, m: ch.send(m), lambda ch: ch.receive(), 64, per))
    # a producer is a fork child that ends with os._exit: as with
    # multiprocessing.Queue, it waits for its feeder's backlog first
    results.append(fan_in_out("unixipc.Queue", lambda: Queue(capacity=RING),
                              lambda q, m: q.put(m), lambda q: q.get(), 64, per,
                              flush=lambda q: (q.close(), q.join_thread())))
    results.append(fan_in_out("multiprocessing.Queue", multiprocessing.Queue,
                              lambda q, m: q.put(m), lambda q: q.get(), 64, per,
                              flush=twoproc.flush_mp_queue))
    if ff is not None:
        results.append(fan_in_out("faster-fifo", lambda: ff.Queue(max_size_bytes=RING),
                                  lambda q, m: q.put(m, timeout=60),
                                  lambda q: q.get(timeout=60), 64, per))

    step("the Python floor")
    results.append(python_floor(trips * 20))

    step("idle receivers")
    results.append(idle_cpu("unixipc", lambda: ShmChannel(capacity=RING),
                            lambda ch: ch.receive(timeout=30), lambda ch: ch.send(b"w")))
    results.append(idle_cpu("unixipc.Queue", lambda: Queue(capacity=RING),
                            lambda q: q.get(timeout=30), lambda q: q.put(b"w")))
    results.append(idle_cpu("multiprocessing.Queue", multiprocessing.Queue,
                            lambda q: q.get(timeout=30), lambda q: q.put(b"w")))
    if ff is not None:
        results.append(idle_cpu("faster-fifo", lambda: ff.Queue(max_size_bytes=RING),
                                lambda q: q.get(timeout=30), lambda q: q.put(b"w")))

    harness.print_table(results, reference="C ring", subject="unixipc")
    _targets(results)
    if args.json:
        Path(args.json).write_text(harness.to_json(results))
    return 0


def _targets(results: list[harness.Result]) -> None:
    def value(workload: str, impl: str) -> float | None:
        return next((r.value for r in results if r.workload == workload and r.impl == impl),
                    None)

    def line(text: str, ratio: float | None, goal: str) -> None:
        shown = "not measured" if ratio is None else f"{ratio:6.2f}x"
        print(f"  {text:58} {shown:>12}   target {goal}")

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or not b else a / b

    rt = "shmch round trip 64 B"
    print("\ntargets (ratios of this run):")
    line("round trip: ShmChannel / C ring", ratio(value(rt, "unixipc"), value(rt, "C ring")),
         "<= 1.5")
    line("round trip: os.pipe / ShmChannel", ratio(value(rt, "os.pipe"), value(rt, "unixipc")),
         ">= 20")
    ow = "shmch one-way 64 B"
    line("one-way 64 B single calls: ShmChannel / C ring",
         ratio(value(ow, "unixipc"), value(ow, "C ring")), ">= 0.6")
    line("  (the ceiling: a Python loop calling one C function / C ring)",
         ratio(value("python loop calling one C function", "python"), value(ow, "C ring")),
         "none (a bound)")
    line("one-way 64 B batches: ShmChannel / C ring",
         ratio(value(ow + " batched x64", "unixipc"), value(ow, "C ring")), ">= 0.9")
    sd = "queue objects: small dict"
    line("small dicts: unixipc.Queue / multiprocessing.Queue",
         ratio(value(sd, "unixipc"), value(sd, "multiprocessing.Queue")), ">= 5")
    line("small dicts: unixipc.Queue / faster-fifo",
         ratio(value(sd, "unixipc"), value(sd, "faster-fifo")), ">= 5")
    big = "queue objects: numpy 64 MiB MB/s"
    line("numpy 64 MiB: unixipc.Queue / array.copy() bandwidth",
         ratio(value(big, "unixipc"), value(big, "array.copy()")), ">= 0.5")


if __name__ == "__main__":
    sys.exit(main())
