"""S17, S18 across processes: two `manage.py worker` processes on one PostgreSQL. A `limit=2` function fed 40
events never has more than 2 runs executing at once (from the recorded start/end times of their steps), and a
rate limit applied by runs in both processes admits exactly its limit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runs import client
from runs.models import Run
from runs.sdk.app import all_functions
from runs.store.functions import sync_functions
from runs.testing import wait_for_run
from tests.helpers import max_overlap, slot_gaps
from tests.integration import flow_functions
from tests.integration.effects import lines
from tests.integration.processes import requires_postgres, worker_fleet

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

EVENTS = 40


def _wait_all(run_ids: list[str], timeout: float) -> list:
    deadline = time.monotonic() + timeout
    return [wait_for_run(run_id, timeout=max(1.0, deadline - time.monotonic())) for run_id in run_ids]


def test_limit_two_holds_across_two_worker_processes(tmp_path: Path) -> None:  # S17
    sync_functions(all_functions())
    path = str(tmp_path / "limited.log")
    with worker_fleet(tmp_path, [flow_functions.__name__]) as fleet:
        workers = [fleet.start(), fleet.start()]
        for worker in workers:
            worker.wait_ready()
        event_ids = client.send_many([{"name": flow_functions.LIMITED, "data": {"path": path, "i": i}}
                                      for i in range(EVENTS)])
        run_ids = [run.id for event_id in event_ids for run in client.runs_for_event(event_id)]
        assert len(run_ids) == EVENTS
        assert {run.status for run in _wait_all(run_ids, 120)} == {"completed"}
        fleet.assert_alive(*workers)

    records = lines(path)
    assert len(records) == EVENTS
    spans = [(float(start), float(end)) for _, _, _, start, end in records]
    # Never more than 2 at once, across both processes; and the limit is used (2, not one at a time).
    assert max_overlap(spans) == 2
    assert {int(pid) for _, _, pid, _, _ in records} == {w.pid for w in workers}, "both workers took a share"
    gaps = slot_gaps(spans)
    print(f"two processes: slot refill gaps max {max(gaps) * 1000:.1f} ms, mean {sum(gaps) / len(gaps) * 1000:.1f} ms")
    assert max(gaps) < 1.0  # a freed slot is taken again promptly, also when the run is in the other process


def test_rate_limit_admits_exactly_its_limit_across_two_worker_processes(tmp_path: Path) -> None:  # S18, S12
    sync_functions(all_functions())
    path = str(tmp_path / "rated.log")
    with worker_fleet(tmp_path, [flow_functions.__name__]) as fleet:
        workers = [fleet.start(), fleet.start()]
        for worker in workers:
            worker.wait_ready()
        event_ids = client.send_many([{"name": flow_functions.CALLER, "data": {"path": path, "i": i}}
                                      for i in range(EVENTS)])
        run_ids = [run.id for event_id in event_ids for run in client.runs_for_event(event_id)]
        callers = _wait_all(run_ids, 120)
        fleet.assert_alive(*workers)

    assert {run.status for run in callers} == {"completed"}
    admitted = [run for run in callers if "child" in run.output]
    assert len(admitted) == flow_functions.RATE_LIMIT
    assert sum(1 for run in callers if run.output.get("rate_limited")) == EVENTS - flow_functions.RATE_LIMIT
    children = Run.objects.filter(function_id="flow-rated")
    assert children.filter(status="completed").count() == flow_functions.RATE_LIMIT
    assert children.filter(status="skipped").count() == EVENTS - flow_functions.RATE_LIMIT
    records = lines(path)
    assert sum(1 for fields in records if fields[0] == "rated") == flow_functions.RATE_LIMIT
    # The admissions were decided in both processes (the invokes ran in both).
    assert {int(fields[2]) for fields in records if fields[0] == "caller"} == {w.pid for w in workers}
