"""S2 crash safety: SIGKILL a `manage.py worker` mid-run; another worker finishes the run. Every completed
step's side effect happened exactly once and no (parent run, step id) has a second child run.

The kill point is a step blocked inside `step.run` (in the parent, or in a child the parent waits on), so
every step before it has certainly completed; only the blocked step itself runs twice (at-least-once).
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
from tests.integration import crash_functions
from tests.integration.effects import label_counts, lines, release
from tests.integration.processes import (
    LEASE_SECONDS,
    WorkerProcess,
    requires_postgres,
    wait_until,
    worker_fleet,
)

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("trigger", [crash_functions.ASYNC_TRIGGER, crash_functions.SYNC_TRIGGER],
                         ids=["async", "sync"])
@pytest.mark.parametrize("block_in", ["parent", "child"])
def test_s2_sigkilled_worker_mid_run_another_worker_completes_it_exactly_once(
        tmp_path: Path, trigger: str, block_in: str) -> None:
    sync_functions(all_functions())  # the trigger must resolve when the event is sent
    effects = str(tmp_path / "effects.log")
    blocked = "parent:slow" if block_in == "parent" else "child:second:slow"

    with worker_fleet(tmp_path, [crash_functions.__name__]) as fleet:
        first = fleet.start()
        [run] = client.runs_for_event(client.send(trigger, {"path": effects, "block_in": block_in}))

        wait_until(lambda: label_counts(effects)[f"{blocked}:start"] == 1, 60,
                   f"the run never reached {blocked}", first)
        # Blocked longer than a lease: the heartbeat must keep it, or a second thread would re-run the step.
        time.sleep(LEASE_SECONDS * 1.5)
        fleet.assert_alive(first)
        assert client.get_run(run.id).status in ("running", "waiting")
        done_before_kill = label_counts(effects)
        assert done_before_kill[f"{blocked}:start"] == 1, done_before_kill

        first.kill()
        release(effects)
        second = fleet.start()
        done = wait_for_run(run.id, timeout=60)

        assert done.status == "completed", done.error
        assert done.output == ["first", "second", "parent:sibling", "third"]
        _assert_each_completed_step_ran_once(effects, blocked, done_before_kill, first, second)
        _assert_one_child_per_invoke(run.id)


def _assert_each_completed_step_ran_once(effects: str, blocked: str, before_kill: Counter[str],
                                         first: WorkerProcess, second: WorkerProcess) -> None:
    # Only the step executing at the kill runs twice: once in each worker.
    expected = Counter(crash_functions.ALL_LABELS) + Counter({f"{blocked}:start": 1})
    assert label_counts(effects) == expected
    by_label: dict[str, list[int]] = {}
    for label, pid in lines(effects):
        by_label.setdefault(label, []).append(int(pid))
    assert by_label[f"{blocked}:start"] == [first.pid, second.pid]
    # Whatever the killed worker completed, the second one did not redo.
    for label in before_kill:
        if label != f"{blocked}:start":
            assert by_label[label] == [first.pid], label


def _assert_one_child_per_invoke(parent_id: str) -> None:
    duplicates = list(Run.objects.filter(parent_run_id__isnull=False).values("parent_run_id", "parent_step_id")
                      .annotate(n=Count("id")).filter(n__gt=1))
    assert duplicates == []
    children = Run.objects.filter(parent_run_id=parent_id)
    assert sorted(str(step) for step in children.values_list("parent_step_id", flat=True)) == [
        "first-child", "second-child", "third-child"]
    assert set(children.values_list("status", flat=True)) == {"completed"}
