"""Where the benchmark time goes: SQL statements per hop / per run, and a cProfile of the worker threads.

Runs one workload once with an IN-PROCESS worker (runs.testing.worker) so every statement the worker threads
send can be counted (Django's CaptureQueriesContext sees one thread's connection only; here the cursor wrapper
is patched for all threads). Needs a migrated PostgreSQL bench database (run `manage.py bench` once):

    DATABASE_URL=postgres://root@127.0.0.1:5432/tributary_bench \
        python -m tests.benchmarks.profile_queries W1 [--threads 4] [--cprofile out.prof]
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import re
import threading
import time
from typing import Any

import django


def _shape(sql: str) -> str:
    """A statement with its literals and IN-lists folded, so equal statements group together."""
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+\b", "?", sql)
    sql = re.sub(r"%s(, %s)+", "%s..", sql)
    sql = re.sub(r"\((\?, )+\?\)", "(?..)", sql)
    return sql[:150]


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count: collections.Counter[str] = collections.Counter()
        self.seconds: dict[str, float] = collections.defaultdict(float)

    def record(self, sql: str, seconds: float) -> None:
        if threading.current_thread() is threading.main_thread():
            return  # the benchmark's own sends and polls
        with self.lock:
            key = _shape(sql)
            self.count[key] += 1
            self.seconds[key] += seconds


def _patch_cursors(recorder: Recorder) -> None:
    from django.db.backends import utils

    for name in ("execute", "executemany"):
        original = getattr(utils.CursorWrapper, name)

        def wrapped(self: Any, sql: str, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _original(self, sql, *args, **kwargs)
            finally:
                recorder.record(sql, time.perf_counter() - start)

        setattr(utils.CursorWrapper, name, wrapped)


def _patch_profiler() -> list[cProfile.Profile]:
    """Profile every executor thread of the worker (cProfile sees only the thread that enables it)."""
    from runs.worker import Worker

    profiles: list[cProfile.Profile] = []
    original = Worker._execute_loop

    def profiled(self: Worker) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    Worker._execute_loop = profiled  # type: ignore[method-assign]
    return profiles


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["W1", "W2", "W3", "W4"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cprofile", default=None, help="write merged pstats of the executor threads here")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    django.setup()

    from runs import testing
    from tests.benchmarks import measure

    recorder = Recorder()
    _patch_cursors(recorder)
    profiles = _patch_profiler() if args.cprofile else []
    workload = measure.WORKLOADS[args.workload]
    measure.truncate_runs()
    with testing.worker(threads=args.threads):
        workload.measure(workload.warmup_size, 60)
        measure.truncate_runs()
        recorder.count.clear()
        recorder.seconds.clear()
        wall = workload.measure(workload.size, 300)
    measure.truncate_runs()
    total = sum(recorder.count.values())
    units = {"W1": ("hop", workload.size), "W2": ("child", workload.size), "W3": ("run", workload.size), "W4": ("run", workload.size)}
    unit, n = units[args.workload]
    print(f"{args.workload}: n={n} wall={wall:.3f}s {workload.metric}={workload.per(n, wall):.2f} "
          f"(in-process worker, cursor patched)")
    print(f"worker statements: {total} = {total / n:.1f} per {unit}; "
          f"SQL time in worker threads {sum(recorder.seconds.values()):.3f}s")
    for sql, count in recorder.count.most_common(args.top):
        print(f"{count:6d} {count / n:6.2f}/{unit} {recorder.seconds[sql] * 1000:8.1f}ms  {sql}")
    if profiles:
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        stats.dump_stats(args.cprofile)
        print(f"cProfile of the executor threads written to {args.cprofile}")


if __name__ == "__main__":
    main()
