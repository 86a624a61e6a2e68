"""Gunicorn settings for both the portal and the floor app in the benchmark (bench/run.py).

Two cores run the web workers, PostgreSQL and the load generator together. Python work is bound
by the GIL, so one process per core does the CPU work; a few threads per process keep a core busy
while a request waits on PostgreSQL. gthread also keeps client connections alive between
requests, which the sync worker does not.
"""

import os

workers = int(os.environ.get("BENCH_WORKERS", "2"))
worker_class = os.environ.get("BENCH_WORKER_CLASS", "gthread")
threads = int(os.environ.get("BENCH_THREADS", "4"))
# The rush opens 200 connections at once; they wait in the listen queue, not refused.
backlog = 2048
worker_connections = 1000
keepalive = 30
timeout = 60
accesslog = None
errorlog = "-"
loglevel = "warning"
# Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads the new
# connections over them. On one shared socket a worker accepts whatever it can, and the burst of
# connections wrk opens at the start sometimes all went to one worker, which then served the
# whole scenario on one core while the other idled (bench/REPORT.md, "stalls").
reuse_port = True
