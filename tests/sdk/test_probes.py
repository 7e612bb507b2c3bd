"""The protocol document's probe set, end to end against the official SDKs (inngest-py, npm inngest@4 and @3):
each probe function of tests/sdk_apps runs on a live Tributary from an event sent to `POST /e/<key>`, and the test
pins the run's exact output or failure and what the store recorded (steps under their readable names, attempts,
step status, the run's error). Then the operator's actions on SDK runs: cancel with descendants and the three
retry modes plus bulk retry, on `probe-fixable`, which fails until a file exists.

One server (dev mode; signed mode for the last test only) and one app per SDK for the whole module
(tests/sdk/conftest.py); each test syncs its app again because the tables are emptied between tests. Where a
probe shows the server departing from Inngest, the test is a strict xfail naming what was seen.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.sdk.harness import RUNTIMES, SdkAppProcess, TributaryServer, send
from tests.sdk.probing import explain, first_run, run_of, step_hash, steps_of, wait_status, wait_step

PROBE_KINDS = ("py", "js4", "js3")
pytestmark = pytest.mark.parametrize("kind", PROBE_KINDS)


# ---- steps -----------------------------------------------------------------------------------------------------

def test_step_run_memoizes_each_step_under_its_readable_name(tributary_server: TributaryServer,
                                                             app: SdkAppProcess) -> None:
    run = run_of(tributary_server, app, "probe/step-run", "probe-step-run")
    assert (run.status, run.output) == ("completed", ["A", "B"]), explain(run, app)
    steps = steps_of(run)
    assert {name: (s.kind, s.status, s.attempts, s.output) for name, s in steps.items()} == {
        "first": ("run", "completed", 1, "A"), "second": ("run", "completed", 1, "B")}


def test_parallel_steps_are_both_recorded_and_the_run_completes(tributary_server: TributaryServer,
                                                                app: SdkAppProcess) -> None:
    run = run_of(tributary_server, app, "probe/parallel", "probe-parallel")
    assert (run.status, run.output) == ("completed", ["P1", "P2"]), explain(run, app)
    steps = steps_of(run)
    assert {name: (s.kind, s.status, s.output) for name, s in steps.items()} == {
        "p1": ("run", "completed", "P1"), "p2": ("run", "completed", "P2")}


def test_sleep_waits_at_least_its_duration(tributary_server: TributaryServer, app: SdkAppProcess) -> None:
    run = run_of(tributary_server, app, "probe/sleep", "probe-sleep")
    assert (run.status, run.output) == ("completed", "slept"), explain(run, app)
    steps = steps_of(run)
    nap, after = steps["nap"], steps["after-nap"]
    assert (nap.kind, nap.status, after.status, after.output) == ("sleep", "completed", "completed", "slept")
    # The SDK names the wake-up (py an absolute instant it computed, js "1s"): 1 s after the run was called at
    # the earliest; the step and the next one end/start only after it.
    assert (nap.deadline - run.started_at).total_seconds() >= 1.0, (run.started_at, nap.deadline)
    assert nap.ended_at >= nap.deadline and after.started_at >= nap.deadline, (nap.deadline, nap.ended_at)


def test_wait_for_event_resumes_only_on_the_event_its_if_matches(tributary_server: TributaryServer,
                                                                 app: SdkAppProcess) -> None:
    waiting = run_of(tributary_server, app, "probe/wait", "probe-wait", {"id": "w-1"}, statuses=("Running",))
    wait = wait_step(waiting, "wait-ok")
    assert (wait.kind, wait.status, wait.wait_event, wait.wait_expression) == (
        "wait_for_event", "waiting", "probe/continue", "async.data.id == event.data.id")

    # Events are matched against waits when they are received, so the first one has been judged before the
    # second is sent: had it resumed the run, the output would be its data.
    send(tributary_server, "probe/continue", {"id": "w-other", "which": "wrong"})
    send(tributary_server, "probe/continue", {"id": "w-1", "which": "right"})
    run = wait_status(waiting.id, ("completed", "failed", "cancelled"))
    assert (run.status, run.output) == ("completed", {"id": "w-1", "which": "right"}), explain(run, app)
    assert steps_of(run)["wait-ok"].status == "completed"


def test_wait_for_event_times_out_with_null(tributary_server: TributaryServer, app: SdkAppProcess) -> None:
    run = run_of(tributary_server, app, "probe/wait-timeout", "probe-wait-timeout")
    assert (run.status, run.output) == ("completed", "timed out"), explain(run, app)
    step = steps_of(run)["wait-short"]
    assert (step.kind, step.status, step.output) == ("wait_for_event", "completed", None)
    assert (step.deadline - run.started_at).total_seconds() >= 1.0, (run.started_at, step.deadline)
    assert step.ended_at >= step.deadline, (step.deadline, step.ended_at)


def test_cancel_on_event_cancels_only_when_its_if_matches(tributary_server: TributaryServer,
                                                           app: SdkAppProcess) -> None:
    from runs.models import CancelRule

    rule = CancelRule.objects.get(app_id=app.app_id, function_id="probe-cancel-on")
    assert (rule.event, rule.expression) == ("probe/cancel", "async.data.id == event.data.id")
    sleeping = run_of(tributary_server, app, "probe/cancel-on", "probe-cancel-on", {"id": "c-1"},
                      statuses=("Running",))
    wait_step(sleeping, "long-nap")
    # Cancel events are matched when received: the first has been judged before the second is sent.
    send(tributary_server, "probe/cancel", {"id": "c-other"})
    assert wait_status(sleeping.id, ("waiting",)).status == "waiting"
    send(tributary_server, "probe/cancel", {"id": "c-1"})
    run = wait_status(sleeping.id, ("completed", "failed", "cancelled"), timeout=15)
    assert run.status == "cancelled", explain(run, app)


def test_send_event_stores_the_event_and_starts_what_it_triggers(tributary_server: TributaryServer,
                                                                 app: SdkAppProcess) -> None:
    from runs.models import Event

    run = run_of(tributary_server, app, "probe/send", "probe-send")
    assert run.status == "completed", explain(run, app)
    assert isinstance(run.output, list) and len(run.output) == 1, run.output
    sent = Event.objects.get(id=run.output[0])
    assert (sent.name, sent.data) == ("probe/sent", {"from": app.runtime})
    assert steps_of(run)["send"].status == "completed"

    triggered = first_run("the run probe/sent started", lambda run: run.status == "completed", event_id=sent.id)
    assert (triggered.app_id, triggered.function_id, triggered.output) == (
        "native-app", "native-on-sent", {"from": RUNTIMES[app.kind]})


def test_send_event_attributes_the_sent_event_to_the_run(tributary_server: TributaryServer,
                                                         app: SdkAppProcess) -> None:
    from runs.models import Event

    run = run_of(tributary_server, app, "probe/send", "probe-send")
    assert run.status == "completed", explain(run, app)
    sent = Event.objects.get(id=run.output[0])
    triggered = first_run("the run probe/sent started", event_id=sent.id)
    assert (sent.sent_by_run_id, triggered.triggered_by_run_id) == (run.id, run.id)


# ---- failures and retries --------------------------------------------------------------------------------------

def test_a_step_that_fails_once_is_retried_and_succeeds(tributary_server: TributaryServer,
                                                        app: SdkAppProcess) -> None:
    run = run_of(tributary_server, app, "probe/retry", "probe-retry")
    assert (run.status, run.output) == ("completed", "ok on attempt 1"), explain(run, app)
    flaky = steps_of(run)["flaky"]
    assert (flaky.status, flaky.attempts, flaky.output) == ("completed", 2, "ok on attempt 1")


def test_step_failed_after_its_retries_fails_the_run_with_the_step_error(tributary_server: TributaryServer,
                                                                         app: SdkAppProcess) -> None:
    run = run_of(tributary_server, app, "probe/step-failed", "probe-step-failed")
    assert run.status == "failed", explain(run, app)
    # The SDK's own error name: inngest-py the Python class, inngest-js `Error`.
    name = "ValueError" if app.kind == "py" else "Error"
    assert (run.error["name"], run.error["message"]) == (name, "always fails"), run.error
    assert run.failed_step_id == step_hash("always-fails")
    step = steps_of(run)["always-fails"]
    assert (step.kind, step.status, step.attempts, step.error["message"]) == ("run", "failed", 2, "always fails")


def test_non_retriable_error_fails_at_once(tributary_server: TributaryServer, app: SdkAppProcess) -> None:
    run = run_of(tributary_server, app, "probe/nonretriable", "probe-nonretriable")
    assert run.status == "failed", explain(run, app)
    # inngest@3 names a NonRetriableError `Error` on the wire (tests/sdk_apps/README.md).
    name = "Error" if app.kind == "js3" else "NonRetriableError"
    assert (run.error["name"], run.error["message"], run.attempts, run.body_failures) == (name, "nope", 1, 0), run.error
    refuse: Any = steps_of(run).get("refuse")
    if app.kind == "py":
        # inngest-py lifts the error out of the step to the function: the step never reports.
        assert refuse is None, refuse
    else:
        # inngest-js answers StepFailed for the step first, then fails the body; one attempt, never a retry.
        assert (refuse.status, refuse.attempts, refuse.error["message"]) == ("failed", 1, "nope")


def test_retry_after_error_delays_the_retry(tributary_server: TributaryServer, app: SdkAppProcess) -> None:
    run = run_of(tributary_server, app, "probe/retry-after", "probe-retry-after")
    assert (run.status, run.output) == ("completed", "retried after, attempt 1"), explain(run, app)
    assert (run.attempts, run.body_failures) == (2, 1), (run.attempts, run.body_failures)
    # RUNS_RETRY_BASE_SECONDS is 0.01 on the test server: only the SDK's Retry-After explains a pause this long
    # (a little under 1 s: the SDKs round, js to whole seconds, py to an instant computed before it answered).
    assert (run.ended_at - run.started_at).total_seconds() >= 0.9, (run.started_at, run.ended_at)


# ---- invoke ----------------------------------------------------------------------------------------------------

def test_invoking_a_missing_function_raises_inngests_not_found_error(tributary_server: TributaryServer,
                                                                     app: SdkAppProcess) -> None:
    run = run_of(tributary_server, app, "probe/invoke-missing", "probe-invoke-missing")
    assert (run.status, run.output) == (
        "completed", {"caught": "could not find function with ID: nope-missing"}), explain(run, app)
    step = steps_of(run)["invoke-missing"]
    assert (step.kind, step.status) == ("invoke", "failed")


def test_invoke_timeout_fails_the_step_and_the_child_keeps_running(tributary_server: TributaryServer,
                                                                   app: SdkAppProcess) -> None:
    from runs.models import Run

    run = run_of(tributary_server, app, "probe/invoke-timeout", "probe-invoke-timeout")
    assert run.status == "completed", explain(run, app)
    assert run.output["name"] == "InngestInvokeTimeoutError", run.output  # SDK code may compare the name
    step = steps_of(run)["invoke-slow"]
    assert (step.kind, step.status) == ("invoke", "failed")
    child = Run.objects.get(parent_run_id=run.id)
    assert (child.function_id, step.child_run_id) == ("probe-slow", child.id)
    child = wait_status(child.id, ("completed", "failed", "cancelled"), timeout=15)
    assert (child.status, child.output) == ("completed", "slow done"), explain(child, app)
    assert child.ended_at > run.ended_at


def test_invoke_timeout_error_carries_inngests_message(tributary_server: TributaryServer,
                                                       app: SdkAppProcess) -> None:
    run = run_of(tributary_server, app, "probe/invoke-timeout", "probe-invoke-timeout")
    assert run.output == {"name": "InngestInvokeTimeoutError",
                          "message": "Timed out waiting for invoked function to complete"}, explain(run, app)


def test_cancel_with_descendants_cancels_the_parent_and_the_child_it_waits_on(
        tributary_server: TributaryServer, app: SdkAppProcess) -> None:
    from runs import client
    from runs.models import Run

    parent = run_of(tributary_server, app, "probe/invoke-slow", "probe-invoke-slow", statuses=("Running",))
    child = first_run("the sleeping probe-slow child", lambda run: run.status == "waiting", parent_run_id=parent.id)
    wait_status(parent.id, ("waiting",), timeout=15)
    client.cancel_run(parent.id, cascade=True)
    assert (Run.objects.get(id=parent.id).status, Run.objects.get(id=child.id).status) == (
        "cancelled", "cancelled")


def test_invoking_a_native_function_returns_its_result(tributary_server: TributaryServer,
                                                       app: SdkAppProcess) -> None:
    from runs.models import Run

    run = run_of(tributary_server, app, "probe/invoke-native", "probe-invoke-native")
    assert (run.status, run.output) == ("completed", {"result": 25}), explain(run, app)
    child = Run.objects.get(parent_run_id=run.id)
    assert (child.app_id, child.function_id, child.output) == ("native-app", "native-square", {"result": 25})
    assert steps_of(run)["invoke-native"].child_run_id == child.id


def test_a_failed_child_fails_its_parent_without_compounding_retries(tributary_server: TributaryServer,
                                                                     app: SdkAppProcess) -> None:
    from runs.models import Run

    parent = run_of(tributary_server, app, "probe/chain", "probe-chain")
    assert parent.status == "failed", explain(parent, app)
    child = Run.objects.get(parent_run_id=parent.id)
    assert (child.function_id, child.status, child.attempts, child.error["message"]) == (
        "probe-leaf-fails", "failed", 1, "leaf broke")
    # The parent re-raises the child's error once and fails for good (no retries of its own on top).
    assert (parent.error["message"], parent.attempts) == ("leaf broke", 1), parent.error
    step = steps_of(parent)["invoke-leaf"]
    assert (step.kind, step.status, step.attempts) == ("invoke", "failed", 1)


# ---- operator retries on SDK runs ------------------------------------------------------------------------------

def fixable(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / f"fix-{uuid.uuid4().hex}"
    return path, {"path": str(path)}


def assert_not_fixed(run: Any, app: SdkAppProcess) -> None:
    assert run.status == "failed", explain(run, app)
    assert run.error["message"] == "not fixed yet", run.error


def test_retry_from_failure_resumes_the_same_run(tributary_server: TributaryServer, app: SdkAppProcess,
                                                 tmp_path: Path) -> None:
    from runs import client

    path, data = fixable(tmp_path)
    run = run_of(tributary_server, app, "probe/fixable", "probe-fixable", data)
    assert_not_fixed(run, app)
    path.write_text("one")
    assert client.retry_run(run.id, mode="from_failure").id == run.id
    healed = wait_status(run.id, ("completed",))
    assert healed.output == "fixed: one", explain(healed, app)
    assert steps_of(healed)["check"].status == "completed"


def test_rerun_from_start_makes_a_new_linked_run(tributary_server: TributaryServer, app: SdkAppProcess,
                                                 tmp_path: Path) -> None:
    from runs import client

    path, data = fixable(tmp_path)
    run = run_of(tributary_server, app, "probe/fixable", "probe-fixable", data)
    assert_not_fixed(run, app)
    path.write_text("two")
    rerun = client.retry_run(run.id, mode="from_start")
    assert rerun.id != run.id
    new = wait_status(rerun.id, ("completed", "failed"))
    assert (new.status, new.output, new.rerun_of_run_id) == ("completed", "fixed: two", run.id), explain(new, app)
    assert wait_status(run.id, ("failed",)).status == "failed"


def test_retry_root_cause_heals_the_chain_without_a_new_child(tributary_server: TributaryServer,
                                                              app: SdkAppProcess, tmp_path: Path) -> None:
    from runs import client
    from runs.models import Run

    path, data = fixable(tmp_path)
    parent = run_of(tributary_server, app, "probe/fix-parent", "probe-fix-parent", data)
    assert parent.status == "failed", explain(parent, app)
    [child] = Run.objects.filter(parent_run_id=parent.id)
    assert_not_fixed(child, app)
    assert "not fixed yet" in parent.error["message"], parent.error
    path.write_text("three")
    client.retry_run(parent.id, mode="root_cause")
    healed = wait_status(parent.id, ("completed", "failed"))
    assert (healed.status, healed.output) == ("completed", "fixed: three"), explain(healed, app)
    assert list(Run.objects.filter(function_id="probe-fixable").values_list("id", "status")) == [
        (child.id, "completed")]


def test_bulk_retry_by_filter_retries_the_failed_sdk_runs(tributary_server: TributaryServer, app: SdkAppProcess,
                                                          tmp_path: Path) -> None:
    from runs import client

    fixes = [fixable(tmp_path) for _ in range(2)]
    runs = [run_of(tributary_server, app, "probe/fixable", "probe-fixable", data) for _, data in fixes]
    for run in runs:
        assert_not_fixed(run, app)
    for number, (path, _) in enumerate(fixes):
        path.write_text(f"bulk {number}")
    assert client.bulk_retry(app_id=app.app_id, function_id="probe-fixable", status="failed") == 2
    for number, run in enumerate(runs):
        healed = wait_status(run.id, ("completed",))
        assert healed.output == f"fixed: bulk {number}", explain(healed, app)


# ---- signed mode -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["signed"])  # last in the module: the server restarts in signed mode once
def test_in_signed_mode_parallel_retry_and_send_event_behave_the_same(
        tributary_server: TributaryServer, app: SdkAppProcess, mode: str) -> None:
    """Signed Call Requests and answers, and the SDK's own event sending with its event key (the parts the
    signing touches); the rest of the probe set runs in dev mode above."""
    from runs.models import Event

    parallel = run_of(tributary_server, app, "probe/parallel", "probe-parallel")
    assert (parallel.status, parallel.output) == ("completed", ["P1", "P2"]), explain(parallel, app)
    retried = run_of(tributary_server, app, "probe/retry", "probe-retry")
    assert (retried.status, retried.output) == ("completed", "ok on attempt 1"), explain(retried, app)
    assert steps_of(retried)["flaky"].attempts == 2
    sender = run_of(tributary_server, app, "probe/send", "probe-send")
    assert sender.status == "completed", explain(sender, app)
    sent = Event.objects.get(id=sender.output[0])
    assert (sent.name, sent.data) == ("probe/sent", {"from": app.runtime})
    triggered = first_run("the run probe/sent started", lambda run: run.status == "completed", event_id=sent.id)
    assert triggered.output == {"from": app.runtime}
