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
from collections.abc import Callable
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
        self.commits = 0

    def clear(self) -> None:
        with self.lock:
            self.count.clear()
            self.seconds.clear()
            self.commits = 0

    def record(self, sql: str, seconds: float, *, autocommit_write: bool = False) -> None:
        if threading.current_thread() is threading.main_thread():
            return  # the benchmark's own sends and polls
        with self.lock:
            key = _shape(sql)
            self.count[key] += 1
            self.seconds[key] += seconds
            self.commits += autocommit_write

    def record_commit(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            with self.lock:
                self.commits += 1


def _patch_cursors(recorder: Recorder) -> Callable[[], None]:
    """Count every statement of every thread, and every commit: an atomic block's COMMIT, or a writing statement
    sent outside one (autocommit: its own transaction). Returns the undo."""
    from django.db.backends import utils
    from django.db.backends.base.base import BaseDatabaseWrapper

    saved: list[tuple[type, str, Any]] = []
    for name in ("execute", "executemany"):
        original = getattr(utils.CursorWrapper, name)
        saved.append((utils.CursorWrapper, name, original))

        def wrapped(self: Any, sql: str, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _original(self, sql, *args, **kwargs)
            finally:
                write = not self.db.in_atomic_block and not sql.lstrip().upper().startswith("SELECT")
                recorder.record(sql, time.perf_counter() - start, autocommit_write=write)

        setattr(utils.CursorWrapper, name, wrapped)
    original_commit = BaseDatabaseWrapper.commit
    saved.append((BaseDatabaseWrapper, "commit", original_commit))

    def commit(self: Any) -> None:
        original_commit(self)
        recorder.record_commit()

    BaseDatabaseWrapper.commit = commit  # type: ignore[method-assign]

    def undo() -> None:
        for owner, name, original in saved:
            setattr(owner, name, original)

    return undo


def _patch_profiler() -> list[cProfile.Profile]:
    """Profile every executor thread of the worker (cProfile sees only the thread that enables it)."""
    from runs.worker import Worker

    profiles: list[cProfile.Profile] = []
    original = Worker._execute_loop

    def profiled(self: Worker) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU time of the thread: waits on the database are not counted
        profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    Worker._execute_loop = profiled  # type: ignore[method-assign]
    return profiles


UNITS = {"W1": "hop", "W2": "child", "W3": "run", "W4": "run"}


def count_workload(name: str, *, threads: int | None = None) -> tuple[dict[str, Any], Recorder]:
    """Run workload `name` once at its full size on an in-process worker, counting the worker threads'
    statements and commits; returns the per-unit counts (a JSON line) and the recorder (statement shapes).
    Needs a migrated database; the bench functions register themselves on import."""
    from runs import testing
    from tests.benchmarks import measure, workloads  # noqa: F401 (registers app "bench")

    recorder = Recorder()
    undo = _patch_cursors(recorder)
    try:
        workload = measure.WORKLOADS[name]
        measure.truncate_runs()
        with testing.worker(threads=threads):
            workload.measure(workload.warmup_size, 60)
            measure.truncate_runs()
            recorder.clear()
            wall = workload.measure(workload.size, 300)
        measure.truncate_runs()
    finally:
        undo()
    n, total = workload.size, sum(recorder.count.values())
    counts = {"counts": name, "unit": UNITS[name], "n": n, "statements": total, "commits": recorder.commits,
              "statements_per_unit": round(total / n, 2), "commits_per_unit": round(recorder.commits / n, 2),
              "in_process_wall_s": round(wall, 3)}
    return counts, recorder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["W1", "W2", "W3", "W4"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cprofile", default=None, help="write merged pstats of the executor threads here")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    django.setup()

    from tests.benchmarks import measure

    profiles = _patch_profiler() if args.cprofile else []
    counts, recorder = count_workload(args.workload, threads=args.threads)
    workload = measure.WORKLOADS[args.workload]
    n, unit, wall, total = counts["n"], counts["unit"], counts["in_process_wall_s"], counts["statements"]
    print(f"{args.workload}: n={n} wall={wall:.3f}s {workload.metric}={workload.per(n, wall):.2f} "
          f"(in-process worker, cursor patched)")
    print(f"worker statements: {total} = {total / n:.1f} per {unit}, commits {counts['commits']} = "
          f"{counts['commits_per_unit']:.1f} per {unit}; SQL time in worker threads "
          f"{sum(recorder.seconds.values()):.3f}s")
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
