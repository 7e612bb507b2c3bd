"""S2 across the HTTP boundary: SIGKILL a worker while an inngest-py step is in flight (the app is executing
it, the worker waits for the answer), in a parent or in the child its parent waits on. Another worker completes
the run; steps finished before the kill ran once, and the child invoked before it exists once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runs import client
from runs.models import Run
from runs.testing import wait_for_run
from tests.integration.effects import label_counts, release
from tests.integration.processes import LEASE_SECONDS, requires_postgres, wait_until, worker_fleet
from tests.sdk_driver.registration import register_rows

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def test_s2_worker_killed_while_an_sdk_step_is_in_flight(tmp_path: Path, crash_app: str) -> None:
    register_rows("crash-py", crash_app, {"crash-child": "crash/child", "crash-parent": "crash/parent"},
                  runtime="inngest-py", retries=0)
    effects = str(tmp_path / "effects.log")
    with worker_fleet(tmp_path, []) as fleet:
        first = fleet.start("--dev")  # the app is in dev mode: so are the workers
        [run] = client.runs_for_event(client.send("crash/parent", {"path": effects}))
        wait_until(lambda: label_counts(effects)["parent:slow:start"] == 1, 60, "the SDK step never started", first)
        # In flight for longer than a lease: the heartbeat keeps the run while the app works on the step.
        time.sleep(LEASE_SECONDS * 1.5)
        assert label_counts(effects)["parent:slow:start"] == 1
        first.kill()
        release(effects)
        fleet.start("--dev")
        done = wait_for_run(run.id, timeout=90)

    assert done.status == "completed", done.error
    assert done.output == ["before", "child", "parent:slow", "after"]
    counts = label_counts(effects)
    assert counts["before"] == 1 and counts["child"] == 1 and counts["after"] == 1, counts
    assert counts["parent:slow:start"] == 2, counts  # the step in flight ran again (at least once), nothing else
    children = Run.objects.filter(parent_run_id=run.id)
    assert children.count() == 1, list(children.values("id", "parent_step_id"))


def test_s2_worker_killed_while_the_parent_waits_on_its_sdk_child_in_flight(tmp_path: Path, crash_app: str) -> None:
    """The parent answered InvokeFunction and waits; the child's step is executing in the app when its worker
    dies. The new worker finishes the same child (not a second one) and resumes the parent with its result."""
    register_rows("crash-py", crash_app, {"crash-slow-child": "crash/slow-child", "crash-invoker": "crash/invoker"},
                  runtime="inngest-py", retries=0)
    effects = str(tmp_path / "effects.log")
    with worker_fleet(tmp_path, []) as fleet:
        first = fleet.start("--dev")
        [run] = client.runs_for_event(client.send("crash/invoker", {"path": effects}))
        wait_until(lambda: label_counts(effects)["child:slow:start"] == 1, 60, "the child's step never started",
                   first)
        assert Run.objects.get(id=run.id).status == "waiting"
        first.kill()
        release(effects)
        fleet.start("--dev")
        done = wait_for_run(run.id, timeout=90)

    assert done.status == "completed", done.error
    assert done.output == ["before", "child:slow", "after"]
    counts = label_counts(effects)
    assert counts["before"] == 1 and counts["after"] == 1, counts
    assert counts["child:slow:start"] == 2, counts  # the step in flight ran again, nothing else did
    [child] = Run.objects.filter(parent_run_id=run.id)
    assert (child.function_id, child.status, child.output) == ("crash-slow-child", "completed", "child:slow")
