"""Retry from a chosen step (issue 11 item 9) on runs of the official SDKs' apps: the HTTP driver replays the
steps before it from the memo and runs it and the later ones again (a run step through a targeted call, a sleep
planned anew), on probe functions of tests/sdk_apps."""

from __future__ import annotations

import pytest

from runs.models import Run
from tests.sdk.harness import SdkAppProcess, TributaryServer
from tests.sdk.probing import explain, run_of, step_hash, steps_of, wait_status
from tests.sdk.test_probes import PROBE_KINDS

pytestmark = pytest.mark.parametrize("kind", PROBE_KINDS)


def test_retry_from_the_second_step_runs_it_again(tributary_server: TributaryServer, app: SdkAppProcess) -> None:
    from runs import client

    run = run_of(tributary_server, app, "probe/step-run", "probe-step-run")
    assert (run.status, run.output) == ("completed", ["A", "B"]), explain(run, app)
    assert client.retry_run(run.id, mode="from_step", step_id=step_hash("second")).id == run.id
    again = wait_until_retried(run)
    assert (again.status, again.output) == ("completed", ["A", "B"]), explain(again, app)
    steps = steps_of(again)
    assert (steps["first"].attempts, steps["second"].attempts) == (1, 2), explain(again, app)
    assert [entry["status"] for entry in steps["second"].history] == ["completed", "completed"]


def test_retry_from_a_sleep_sleeps_again(tributary_server: TributaryServer, app: SdkAppProcess) -> None:
    from runs import client

    run = run_of(tributary_server, app, "probe/sleep", "probe-sleep")
    assert (run.status, run.output) == ("completed", "slept"), explain(run, app)
    first_nap = steps_of(run)["nap"].started_at
    client.retry_run(run.id, mode="from_step", step_id=step_hash("nap"))
    again = wait_until_retried(run)
    assert (again.status, again.output) == ("completed", "slept"), explain(again, app)
    steps = steps_of(again)
    assert steps["nap"].started_at > first_nap, explain(again, app)
    # Planned anew (an SDK's later run step cannot be targeted before the sleep is): the old rows are kept.
    reset = again.attempts_history[0]["reset_steps"]
    assert [entry["step_id"] for entry in reset] == [step_hash("nap"), step_hash("after-nap")]


def wait_until_retried(run: Run) -> Run:
    wait_status(run.id, ("queued", "running", "waiting", "completed", "failed"))
    from tests.helpers import wait_until

    return wait_until(lambda: Run.objects.get(id=run.id),
                      lambda row: row.version > run.version and row.status in ("completed", "failed"), 30.0,
                      f"run {run.id} retried and finished")
