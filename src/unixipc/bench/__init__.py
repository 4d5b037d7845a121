"""Benchmark workloads and their runner.

Workloads for each mechanism live in a module of their own here
(``unixipc.bench.<stem>``) so that both the scripts under ``bench/``
(which add peers and C baselines) and ``unixipc bench`` run one code path.
Nothing here is collected by pytest.
"""

#: The mechanisms ``unixipc bench`` measures, in its order (the keys of
#: ``transports.REGISTRY``; kept here so the command line needs no import of
#: the workloads to list them).
MECHANISMS = ("pipe", "fifo", "msg", "sem", "shm", "unix", "seqpacket", "tcp", "shmch", "queue")
