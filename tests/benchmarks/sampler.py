"""What the database and the workers do during a SCALE measurement, sampled from outside every 50 ms:
pg_stat_activity (wait events of active backends, the longest open transaction), the CPU seconds of the
PostgreSQL processes serving this database (its backends and the server's own: per pid, from when it is first
seen to when it is last seen, so backends that come and go are counted), the machine's CPU (/proc/stat) and
the resident memory of the worker processes.

A sampler is a benchmark tool (Linux /proc, PostgreSQL statistics), not engine code.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

INTERVAL = 0.05
# This database's backends and the server's own processes (WAL writer, checkpointer: datname NULL); other
# databases' backends (other benchmarks on the same server) are left out.
_ACTIVITY = """
SELECT pid, state, wait_event_type, wait_event, EXTRACT(EPOCH FROM now() - xact_start)::float, backend_type,
       left(query, 160)
FROM pg_stat_activity
WHERE (datname = current_database() OR datname IS NULL) AND pid <> pg_backend_pid()
"""
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (None if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of stat)


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / _TICKS, sum(values) / _TICKS


def rss_kb(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in KiB, from /proc/<pid>/status (0, 0 if it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0, 0
    fields = {line.split(":")[0]: line.split()[1] for line in lines if line.startswith(("VmRSS", "VmHWM"))}
    return int(fields.get("VmRSS", 0)), int(fields.get("VmHWM", 0))


class Sampler:
    """Use as a context manager around one measurement; `summary()` afterwards."""

    def __init__(self, url: str, worker_pids: list[int] | None = None) -> None:
        self.url = url
        self.worker_pids = worker_pids or []
        self.waits: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self.longest_transaction_s = 0.0
        self.longest_transaction_query = ""  # its last statement when it was seen longest
        self.peak_rss_kb = 0
        self._cpu_first: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scale-sampler", daemon=True)
        self._start: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._end: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __enter__(self) -> Sampler:
        self._start = (time.perf_counter(), *machine_cpu_seconds())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._end = (time.perf_counter(), *machine_cpu_seconds())

    def _loop(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(INTERVAL):
                self.samples += 1
                for pid, state, wait_type, wait, age, backend, query in conn.execute(_ACTIVITY).fetchall():
                    used = cpu_seconds(pid)
                    if used is not None:
                        self._cpu_first.setdefault(pid, used)
                        self._cpu_last[pid] = used
                    if backend != "client backend":
                        continue
                    # Only a backend inside a transaction counts (an idle one, e.g. a worker's LISTEN connection,
                    # was once reported with a transaction start hundreds of seconds old).
                    if state != "idle" and age is not None and age > self.longest_transaction_s:
                        self.longest_transaction_s = age
                        self.longest_transaction_query = f"{state}: {' '.join(query.split())}"
                    if state == "active":
                        self.waits[f"{wait_type}:{wait}" if wait_type else "CPU"] += 1
                for pid in self.worker_pids:
                    self.peak_rss_kb = max(self.peak_rss_kb, rss_kb(pid)[0])

    def summary(self) -> dict[str, Any]:
        wall = self._end[0] - self._start[0]
        busy = self._end[1] - self._start[1]
        total = self._end[2] - self._start[2]
        db_cpu = sum(last - self._cpu_first[pid] for pid, last in self._cpu_last.items())
        active = sum(self.waits.values())
        # Each sample sees every active backend: their mean count is how many statements ran at once.
        return {
            "db_cpu_cores": round(db_cpu / wall, 2) if wall else 0.0,
            "machine_busy_pct": round(100 * busy / total, 1) if total else 0.0,
            "active_backends_mean": round(active / self.samples, 2) if self.samples else 0.0,
            "top_waits": {name: round(count / active, 3) for name, count in self.waits.most_common(4)}
            if active else {},
            "longest_transaction_s": round(self.longest_transaction_s, 3),
            "longest_transaction_query": self.longest_transaction_query,
            "sampled_peak_rss_mb": round(self.peak_rss_kb / 1024, 1),
        }
