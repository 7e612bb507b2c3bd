"""`manage.py bench --only SCALE`: scale-out and big-operation measurements (issue 12, docs/scaling.md).

1. W3 and W2 with 1, 2 and 4 `manage.py worker` processes: throughput, per process, and what the database
   was doing meanwhile (sampler.py: wait events, database CPU, machine CPU) to say where scaling stops.
2. Big trees on one fresh worker process: a fan-out of 10,000 children (in groups of 100: a run has at most
   1,000 steps) and a chain 1,000 deep (wall time, peak RSS of the worker).
3. A wake storm: 100,000 sleeping runs made due at once, drained by the worker processes (rate, peak RSS).
4. Operator actions without workers: cancel with descendants of a 100,000-run tree, and bulk retry of
   100,000 failed runs (wall time, longest transaction seen).

Every size is multiplied by the scale factor. One JSON line per measurement; `markdown()` makes the tables.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import close_old_connections
from django.utils import timezone

from runs import client
from runs.models import Run
from runs.status import RunStatus
from runs.store import actions
from tests.benchmarks import measure, scale_rows
from tests.benchmarks.sampler import Sampler, rss_kb
from tests.benchmarks.workloads import SLEEP_EVENT, WIDE_EVENT

WORKLOAD_MODULE = "tests.benchmarks.workloads"
BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"
Manage = Callable[..., "subprocess.Popen[str]"]
PARTS = ("throughput", "trees", "storm", "cancel", "retry")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    fanout: int
    chain: int
    sleepers: int
    cancel_tree: int
    retry: int

    @classmethod
    def scaled(cls, factor: float) -> Sizes:
        def size(full: int) -> int:
            return max(10, int(full * factor))

        return cls(fanout=size(10_000), chain=size(1_000), sleepers=size(100_000), cancel_tree=size(100_000),
                   retry=size(100_000))


def run_scale(*, url: str, factor: float, workers: list[int], worker_threads: int | None, timeout: float,
              out: measure.Output, manage: Manage, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    sizes = Sizes.scaled(factor)
    report: dict[str, Any] = {"factor": factor, "sizes": sizes, "throughput": [], "big": []}

    def emit(row: dict[str, Any]) -> dict[str, Any]:
        out.write(json.dumps(row) + "\n")
        out.flush()
        return row

    def fleet(count: int) -> contextlib.AbstractContextManager[list[int]]:
        return _workers(manage, url, count, worker_threads, max_depth=sizes.chain + 10)

    for count in workers if "throughput" in parts else []:
        with fleet(count) as pids:
            for name in ("W3", "W2"):
                report["throughput"].append(emit(_throughput(name, count, url, pids, timeout)))
    if "trees" in parts:
        with fleet(1) as pids:
            report["big"].append(emit(_big("fan-out (root, n/100 groups, 100 children each)", sizes.fanout,
                                           _measure_wide, url, pids, timeout)))
        with fleet(1) as pids:
            report["big"].append(emit(_big("chain", sizes.chain, measure.measure_chain, url, pids, timeout)))
    if "storm" in parts:
        with fleet(max(workers)) as pids:
            report["big"].append(emit(_wake_storm(sizes.sleepers, url, pids, timeout)))
    if "cancel" in parts:
        report["big"].append(emit(_cancel_tree(sizes.cancel_tree, url)))
    if "retry" in parts:
        report["big"].append(emit(_bulk_retry(sizes.retry, url)))
    measure.truncate_runs()
    return report


@contextlib.contextmanager
def _workers(manage: Manage, url: str, count: int, threads: int | None, *, max_depth: int) -> Iterator[list[int]]:
    """`count` worker processes, each ready (its functions synced) before the block runs; their pids.
    RUNS_MAX_INVOKE_DEPTH is raised for the deep chain (the default, 100, would fail it)."""
    measure.truncate_runs()
    args = ["--threads", str(threads)] if threads else []
    env = {"RUNS_FUNCTION_MODULES": WORKLOAD_MODULE, "RUNS_MAX_INVOKE_DEPTH": str(max(100, max_depth))}
    started = [manage("worker", *args, url=url, stdout=subprocess.PIPE, extra_env=env) for _ in range(count)]
    try:
        for process in started:
            assert process.stdout is not None
            if not process.stdout.readline():
                raise measure.BenchFailure(f"a worker exited with code {process.wait()} before it was ready")
        yield [process.pid for process in started]
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        measure.truncate_runs()


def _throughput(name: str, count: int, url: str, pids: list[int], timeout: float, reps: int = 3) -> dict[str, Any]:
    workload = measure.WORKLOADS[name]
    workload.measure(workload.warmup_size, timeout)
    values = []
    with Sampler(url, pids) as sampler:
        for _ in range(reps):
            measure.truncate_runs()
            values.append(workload.per(workload.size, workload.measure(workload.size, timeout)))
    median = statistics.median(values)
    return {"scale": name, "workers": count, workload.metric: round(median, 1),
            "per_process": round(median / count, 1), "reps": [round(v, 1) for v in values], **sampler.summary()}


def _measure_wide(n: int, timeout: float) -> float:
    return measure.measure_fanout(n, timeout, WIDE_EVENT)


def _peak_rss_mb(pids: list[int]) -> float:
    return round(max(rss_kb(pid)[1] for pid in pids) / 1024, 1)


def _big(name: str, size: int, run: Callable[[int, float], float], url: str, pids: list[int],
         timeout: float) -> dict[str, Any]:
    run(3, timeout)  # warm: imports and first passes, so the peak below is the tree's
    measure.truncate_runs()
    idle_rss = _peak_rss_mb(pids)
    with Sampler(url, pids) as sampler:
        wall = run(size, timeout * 4)
    return {"scale": name, "n": size, "wall_s": round(wall, 2), "per_s": round(size / wall, 1),
            "worker_peak_rss_mb": _peak_rss_mb(pids), "worker_rss_before_mb": idle_rss, **sampler.summary()}


def _wake_storm(size: int, url: str, pids: list[int], timeout: float) -> dict[str, Any]:
    """One run goes to sleep through the engine; its rows are cloned `size` times; then all are due at once."""
    until = (timezone.now() + timedelta(days=1)).isoformat()
    event_id = client.send(SLEEP_EVENT, {"until": until})
    deadline = time.perf_counter() + timeout
    while not Run.objects.filter(event_id=event_id, status=RunStatus.WAITING).exists():
        if time.perf_counter() > deadline:
            raise measure.BenchFailure("the template sleeper did not go to sleep")
        time.sleep(measure.POLL_SECONDS)
    template = Run.objects.get(event_id=event_id)
    setup = time.perf_counter()
    scale_rows.clone_sleeping(template.id, size)
    setup_s = time.perf_counter() - setup
    idle_rss = _peak_rss_mb(pids)
    with Sampler(url, pids) as sampler:
        start = time.perf_counter()
        scale_rows.wake_all("sleeper")
        measure._wait_all(size, start + timeout * 4)
        wall = time.perf_counter() - start
    return {"scale": "wake storm", "n": size, "workers": len(pids), "wall_s": round(wall, 2),
            "per_s": round(size / wall, 1), "setup_s": round(setup_s, 1), "worker_peak_rss_mb": _peak_rss_mb(pids),
            "worker_rss_before_mb": idle_rss, **sampler.summary()}


def _cancel_tree(size: int, url: str) -> dict[str, Any]:
    measure.truncate_runs()
    root = scale_rows.active_tree(size)
    close_old_connections()
    with Sampler(url) as sampler:
        start = time.perf_counter()
        cancelled = actions.cancel_run(root, cascade=True, reason="bench")
        wall = time.perf_counter() - start
    measure.truncate_runs()
    return {"scale": "cancel tree", "n": len(cancelled), "wall_s": round(wall, 2),
            "per_s": round(len(cancelled) / wall, 1), **sampler.summary()}


def _bulk_retry(size: int, url: str) -> dict[str, Any]:
    measure.truncate_runs()
    scale_rows.failed_runs(size)
    with Sampler(url) as sampler:
        start = time.perf_counter()
        done = actions.bulk_apply("retry", {"app_id": "bench", "function_id": "one-step"})
        wall = time.perf_counter() - start
    measure.truncate_runs()
    return {"scale": "bulk retry", "n": done, "wall_s": round(wall, 2), "per_s": round(done / wall, 1),
            **sampler.summary()}


def markdown(report: dict[str, Any]) -> str:
    """The tables of docs/scaling.md from a report."""
    lines = [BEGIN, f"Scale factor {report['factor']} (sizes {report['sizes']}).", "",
             "| workload | workers | throughput | per process | db CPU (cores) | machine busy | top waits |",
             "|---|---|---|---|---|---|---|"]
    for row in report["throughput"]:
        metric = "runs_per_s" if row["scale"] == "W3" else "children_per_s"
        waits = ", ".join(f"{k} {v:.0%}" for k, v in row["top_waits"].items())
        lines.append(f"| {row['scale']} ({metric.replace('_per_s', '/s')}) | {row['workers']} | {row[metric]} | "
                     f"{row['per_process']} | {row['db_cpu_cores']} | {row['machine_busy_pct']}% | {waits} |")
    lines += ["", "| operation | n | wall (s) | per s | worker peak RSS (MB) | longest transaction (s) |",
              "|---|---|---|---|---|---|"]
    for row in report["big"]:
        rss = f"{row['worker_peak_rss_mb']} (idle {row['worker_rss_before_mb']})" if "worker_peak_rss_mb" in row \
            else "no worker"
        lines.append(f"| {row['scale']} | {row['n']} | {row['wall_s']} | {row['per_s']} | {rss} | "
                     f"{row['longest_transaction_s']} |")
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_doc(path: Path, tables: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace what lies between the markers of `path` (the tables carry them), or append the tables."""
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + tables.rstrip("\n") + rest.split(end, 1)[1]
    else:
        text = text + ("\n" if text else "") + tables
    path.write_text(text)
