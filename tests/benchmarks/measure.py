"""Measuring the workloads of tests/benchmarks/workloads.py against a running worker (see `manage.py bench`).

Runs in the bench process, whose DATABASE_URL is the bench database: events go in through runs.client, and
completion is found by polling the database with one cheap query per poll (a benchmark may poll).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import connection

from runs import client
from runs.models import Event, Run, Step
from runs.status import RunStatus
from tests.benchmarks.workloads import CHAIN_EVENT, FANOUT_EVENT, KEYED_EVENT, KEYS, ONE_STEP_EVENT

SDK_CHAIN_EVENT = "bench-sdk/chain"  # tests/benchmarks/sdk_app.py (not imported here: it configures Django)
SDK_FANOUT_EVENT = "bench-sdk/fanout"
POLL_SECONDS = 0.005
FAILED = (RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED)
CHAIN_N = 50
FANOUT_N = 200
EVENTS_N = 1000


class Output(Protocol):
    def write(self, text: str) -> Any: ...

    def flush(self) -> Any: ...


class BenchFailure(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    metric: str
    size: int
    warmup_size: int
    measure: Callable[[int, float], float]  # (size, timeout) -> wall seconds
    per: Callable[[int, float], float]  # (size, wall seconds) -> metric


def truncate_runs() -> None:
    tables = ", ".join(model._meta.db_table for model in (Step, Run, Event))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables}")


def _wait_root(event_id: str, deadline: float) -> Any:
    """Poll the root run of `event_id` until it is terminal; returns its output, raises if it did not complete."""
    sql = (f"SELECT status, output::text FROM {Run._meta.db_table} "
           "WHERE event_id = %s AND parent_run_id IS NULL")
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [event_id])
            row = cursor.fetchone()
            if row is not None and row[0] == RunStatus.COMPLETED:
                return json.loads(row[1])
            if row is not None and row[0] in FAILED:
                raise BenchFailure(f"root run of event {event_id} ended {row[0]}")
            if time.perf_counter() > deadline:
                raise BenchFailure(f"root run of event {event_id} not done in time ({row})")
            time.sleep(POLL_SECONDS)


def _wait_all(expected: int, deadline: float) -> None:
    """Poll until `expected` runs are completed (the table holds only this workload's runs)."""
    failed = ", ".join(f"'{status}'" for status in FAILED)
    sql = (f"SELECT COUNT(*) FILTER (WHERE status = '{RunStatus.COMPLETED}'), "
           f"COUNT(*) FILTER (WHERE status IN ({failed})) FROM {Run._meta.db_table}")
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql)
            completed, bad = cursor.fetchone()
            if completed >= expected:
                return
            if bad:
                raise BenchFailure(f"{bad} runs failed")
            if time.perf_counter() > deadline:
                raise BenchFailure(f"only {completed} of {expected} runs completed in time")
            time.sleep(POLL_SECONDS)


def measure_chain(n: int, timeout: float, event: str = CHAIN_EVENT) -> float:
    start = time.perf_counter()
    event_id = client.send(event, {"n": n})
    output = _wait_root(event_id, start + timeout)
    wall = time.perf_counter() - start
    if output != n:
        raise BenchFailure(f"chain returned {output!r}, expected {n}")
    return wall


def measure_fanout(n: int, timeout: float, event: str = FANOUT_EVENT) -> float:
    start = time.perf_counter()
    event_id = client.send(event, {"n": n})
    output = _wait_root(event_id, start + timeout)
    wall = time.perf_counter() - start
    if output != sum(i * i for i in range(n)):
        raise BenchFailure(f"fan-out returned {output!r}")
    return wall


def measure_events(n: int, timeout: float) -> float:
    events = [{"name": ONE_STEP_EVENT, "data": {"x": i}} for i in range(n)]
    start = time.perf_counter()
    client.send_many(events)
    _wait_all(n, start + timeout)
    return time.perf_counter() - start


def measure_keyed_events(n: int, timeout: float) -> float:
    events = [{"name": KEYED_EVENT, "data": {"x": i, "key": i % KEYS}} for i in range(n)]
    start = time.perf_counter()
    client.send_many(events)
    _wait_all(n, start + timeout)
    return time.perf_counter() - start


WORKLOADS = {
    "W1": Workload("W1", "ms_per_hop", CHAIN_N, 3, measure_chain, lambda n, wall: wall * 1000 / n),
    "W2": Workload("W2", "children_per_s", FANOUT_N, 5, measure_fanout, lambda n, wall: n / wall),
    "W3": Workload("W3", "runs_per_s", EVENTS_N, 20, measure_events, lambda n, wall: n / wall),
    "W4": Workload("W4", "runs_per_s", EVENTS_N, 20, measure_keyed_events, lambda n, wall: n / wall),
    # W1 and W2 with inngest-py functions served over HTTP (tests/benchmarks/sdk_app.py): the cost of the hop.
    "W1-SDK": Workload("W1-SDK", "ms_per_hop", CHAIN_N, 3, lambda n, t: measure_chain(n, t, SDK_CHAIN_EVENT),
                       lambda n, wall: wall * 1000 / n),
    "W2-SDK": Workload("W2-SDK", "children_per_s", FANOUT_N, 5, lambda n, t: measure_fanout(n, t, SDK_FANOUT_EVENT),
                       lambda n, wall: n / wall),
}
SDK_WORKLOADS = ("W1-SDK", "W2-SDK")


def run_workload(workload: Workload, *, reps: int, timeout: float) -> dict[str, Any]:
    """Warm up once (small size, not reported), then `reps` measured runs, each on emptied tables."""
    truncate_runs()
    workload.measure(workload.warmup_size, timeout)
    walls, values = [], []
    for _ in range(reps):
        truncate_runs()
        wall = workload.measure(workload.size, timeout)
        walls.append(round(wall, 4))
        values.append(round(workload.per(workload.size, wall), 3))
    truncate_runs()
    return {"workload": workload.name, workload.metric: round(statistics.median(values), 3), "reps": values,
            "wall_s": walls, "n": workload.size}


def run_benchmarks(names: list[str], *, reps: int, timeout: float, out: Output) -> dict[str, dict[str, Any]]:
    """Run and print each workload; returns the printed lines by workload name."""
    results = {}
    for name in names:
        results[name] = run_workload(WORKLOADS[name], reps=reps, timeout=timeout)
        out.write(json.dumps(results[name]) + "\n")
        out.flush()
    return results
