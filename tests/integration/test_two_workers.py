"""Two `manage.py worker` processes against one PostgreSQL share 50 runs: every run completes, every step's
side effect happens once, each invoke has one child, and a run is executed by one worker at a time.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from django.db.models import Count

from runs import client
from runs.models import Run
from runs.sdk.app import all_functions
from runs.store.functions import sync_functions
from runs.testing import wait_for_run
from tests.integration import fleet_functions
from tests.integration.effects import lines
from tests.integration.processes import requires_postgres, worker_fleet

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

RUNS = 50


def test_two_workers_execute_50_runs_each_step_once_one_worker_at_a_time(tmp_path: Path) -> None:
    sync_functions(all_functions())
    with worker_fleet(tmp_path, [fleet_functions.__name__]) as fleet:
        workers = [fleet.start(), fleet.start()]
        for worker in workers:
            worker.wait_ready()  # both listen before the burst, so both get a share of it
        paths = [str(tmp_path / f"effects-{n}.log") for n in range(RUNS)]
        event_ids = client.send_many([{"name": fleet_functions.TRIGGER, "data": {"path": path, "n": n}}
                                      for n, path in enumerate(paths)])
        run_ids = [run.id for event_id in event_ids for run in client.runs_for_event(event_id)]
        assert len(run_ids) == RUNS

        deadline = time.monotonic() + 120
        for n, run_id in enumerate(run_ids):
            done = wait_for_run(run_id, timeout=max(1.0, deadline - time.monotonic()))
            assert done.status == "completed", done.error
            assert done.output == n + n * n
        fleet.assert_alive(*workers)

        records = [fields for path in paths for fields in lines(path)]
        for n, path in enumerate(paths):
            assert Counter(fields[0] for fields in lines(path)) == Counter(["parent:a", "child:square", "parent:b"]), n
        _assert_one_worker_at_a_time(records)
        assert {int(fields[2]) for fields in records} == {w.pid for w in workers}, "both workers took a share"
        _assert_one_child_per_invoke(run_ids)


def _assert_one_worker_at_a_time(records: list[list[str]]) -> None:
    """A run's step executions never overlap in time, whichever worker executed them."""
    by_run: dict[str, list[tuple[float, float, str]]] = {}
    for label, run_id, pid, start, end in records:
        by_run.setdefault(run_id, []).append((float(start), float(end), f"{label}@{pid}"))
    for run_id, spans in by_run.items():
        spans.sort()
        for (_, ended, earlier), (started, _, later) in zip(spans, spans[1:], strict=False):
            assert started >= ended, f"run {run_id}: {later} started before {earlier} ended"


def _assert_one_child_per_invoke(run_ids: list[str]) -> None:
    children = Run.objects.filter(parent_run_id__in=run_ids)
    assert children.count() == RUNS
    per_step = children.values("parent_run_id", "parent_step_id").annotate(n=Count("id"))
    assert {(row["parent_step_id"], row["n"]) for row in per_step} == {("square", 1)}
    assert set(children.values_list("status", flat=True)) == {"completed"}
