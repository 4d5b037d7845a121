"""Benchmark workloads and their runner.

Workloads for each mechanism live in a module of their own here
(``unixipc.bench.<mechanism>``) so that both the scripts under ``bench/``
(which add peers and C baselines) and ``unixipc bench`` run one code path.
Nothing here is collected by pytest.
"""
