"""proxyd's benchmark: ``make bench`` (``python -m bench``).

It runs the fake GitHub/Copilot upstream, ``proxyd serve`` (one worker, SQLite)
and a load generator (wrk when installed, else ``bench.loadgen``) as separate
processes on loopback, plus a few in-process microbenchmarks, and writes
``bench/results/report.md`` and ``bench/results/results.json``.
"""
