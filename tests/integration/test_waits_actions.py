"""Acting on a waiting run over HTTP (issue 11 item 10): wake a sleep now, fail or cancel an invoke wait; each
audited, permission-guarded and CSRF-checked, refusals a 4xx with a JSON reason. And lease safety: a wake that
lands while a worker holds the run is not lost."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from runs import client
from runs.exceptions import ActionRefused
from runs.ids import new_id
from runs.models import OperatorAction, Run, Step
from runs.ops import Suspended
from runs.sdk import App, Context
from runs.sdk import StepError as SdkStepError
from runs.status import RunStatus, StepKind, StepStatus
from runs.store import waits
from runs.store.claims import claim_runs
from runs.store.passes import finish_pass, load_memo
from runs.store.rows import new_run
from runs.testing import wait_for_run
from tests.helpers import csrf_session, operator
from tests.integration.test_actions_api import csrf, post

app = App("it-waits")


@app.function(id="napper", trigger="waits/nap", retries=0)
async def napper(ctx: Context) -> dict:
    await ctx.step.sleep("nap", "1h")
    return {"woke": True}


@app.function(id="two-naps", trigger="waits/two-naps", retries=0)
async def two_naps(ctx: Context) -> str:
    await ctx.step.sleep("long", "2h")
    return "done"


@app.function(id="approval", trigger="waits/approval", retries=0)
async def approval(ctx: Context) -> dict:
    got = await ctx.step.wait_for_event("approve", event="waits/approved", match="data.token", timeout="1h")
    return {"got": got["data"] if got else None}


@app.function(id="slow-child", retries=0)
async def slow_child(ctx: Context) -> str:
    await ctx.step.sleep("child-nap", "1h")
    return "child done"


@app.function(id="invoker", trigger="waits/invoke", retries=0)
async def invoker(ctx: Context) -> str:
    return await ctx.step.invoke("call-child", function=slow_child)


@app.function(id="careful-invoker", trigger="waits/careful", retries=0)
async def careful_invoker(ctx: Context) -> dict:
    try:
        await ctx.step.invoke("call-child", function=slow_child)
    except SdkStepError as exc:  # the parent goes on, as with any failed invoke (S10, S14)
        return {"caught": type(exc).__name__, "message": exc.message}
    return {"caught": None}


def started(name: str, data: dict | None = None) -> str:
    [run] = client.runs_for_event(client.send(name, data or {}))
    return run.id


def waiting_step(run_id: str, step_id: str) -> Step:
    deadline = time.monotonic() + 10
    while True:
        step = Step.objects.filter(run_id=run_id, step_id=step_id, status=StepStatus.WAITING).first()
        if step is not None and Run.objects.get(id=run_id).status == RunStatus.WAITING:
            return step
        assert time.monotonic() < deadline, f"step {step_id} of run {run_id} never waited"
        time.sleep(0.01)


@pytest.fixture
def session(worker) -> Client:  # type: ignore[no-untyped-def]
    return csrf_session(operator())


def test_wake_ends_the_sleep_now_and_is_audited(session: Client) -> None:
    run_id = started("waits/nap")
    waiting_step(run_id, "nap")
    assert post(session, f"/api/runs/{run_id}/wake", {}).status_code == 403  # a session needs CSRF
    response = post(session, f"/api/runs/{run_id}/wake", {}, **csrf(session))
    assert response.status_code == 200, response.content
    assert response.json()["woken"] == "nap"
    run = wait_for_run(run_id)
    assert run.status == "completed" and run.output == {"woke": True}
    nap = Step.objects.get(run_id=run_id, step_id="nap")
    assert nap.status == StepStatus.COMPLETED and nap.ended_at < nap.deadline  # ended by the wake, not its time
    entry = OperatorAction.objects.get(action="wake")
    assert entry.username == "op" and entry.run_ids == [run_id] and entry.outcome == "done"
    again = post(session, f"/api/runs/{run_id}/wake", {}, **csrf(session))
    assert again.status_code == 409 and "completed" in again.json()["error"]


def test_wake_refusals_are_4xx_with_a_reason(session: Client) -> None:
    headers = csrf(session)
    waiter = started("waits/approval", {"token": "t1"})
    waiting_step(waiter, "approve")
    refused = post(session, f"/api/runs/{waiter}/wake", {}, **headers)
    assert refused.status_code == 409 and "no waiting sleep" in refused.json()["error"]
    named = post(session, f"/api/runs/{waiter}/wake", {"step_id": "approve"}, **headers)
    assert named.status_code == 409 and "wait_for_event step, not a sleep" in named.json()["error"]
    unknown = post(session, f"/api/runs/{waiter}/wake", {"step_id": "nope"}, **headers)
    assert unknown.status_code == 409 and "no step 'nope'" in unknown.json()["error"]
    assert post(session, f"/api/runs/{waiter}/wake", {"step_id": 3}, **headers).status_code == 400
    assert post(session, "/api/runs/NOSUCHRUN/wake", {}, **headers).status_code == 404
    assert session.get(f"/api/runs/{waiter}/wake").status_code == 405
    assert Run.objects.get(id=waiter).status == RunStatus.WAITING  # nothing changed
    assert set(OperatorAction.objects.values_list("outcome", flat=True)) == {"refused"}


def test_wake_a_named_sleep(session: Client) -> None:
    run_id = started("waits/two-naps")
    waiting_step(run_id, "long")
    response = post(session, f"/api/runs/{run_id}/wake", {"step_id": "long"}, **csrf(session))
    assert response.status_code == 200 and response.json()["woken"] == "long"
    assert wait_for_run(run_id).output == "done"


def test_fail_invoke_fails_the_parent_with_a_step_error_and_the_child_goes_on(session: Client) -> None:
    parent = started("waits/invoke")
    step = waiting_step(parent, "call-child")
    child = step.child_run_id
    response = post(session, f"/api/runs/{parent}/steps/call-child/fail", {}, **csrf(session))
    assert response.status_code == 200, response.content
    assert response.json()["child_run_id"] == child
    run = wait_for_run(parent)
    assert run.status == "failed" and run.error["type"] == "StepError"
    assert run.error["message"].startswith("failed by operator op")
    assert run.failure_cause_run_id is None and run.failed_step_id == "call-child"  # its own root cause (O2)
    assert Run.objects.get(id=child).status == RunStatus.WAITING  # the child keeps running
    entry = OperatorAction.objects.get(action="fail_invoke")
    assert entry.run_ids == [parent] and entry.outcome == "done"
    # The child ends later: the parent's failed step is not resolved a second time.
    assert post(session, f"/api/runs/{child}/wake", {}, **csrf(session)).status_code == 200
    assert wait_for_run(child).status == "completed"
    failed = Step.objects.get(run_id=parent, step_id="call-child")
    assert failed.status == StepStatus.FAILED and failed.error["message"].startswith("failed by operator")
    assert Run.objects.get(id=parent).status == RunStatus.FAILED


def test_a_failed_invoke_the_code_catches_lets_the_parent_go_on(session: Client) -> None:
    parent = started("waits/careful")
    waiting_step(parent, "call-child")
    assert post(session, f"/api/runs/{parent}/steps/call-child/fail", {}, **csrf(session)).status_code == 200
    run = wait_for_run(parent)
    assert run.status == "completed" and run.output["caught"] == "StepError"
    assert "failed by operator" in run.output["message"]


def test_cancel_invoke_cancels_the_child_and_the_parent_sees_s14(session: Client) -> None:
    parent = started("waits/careful")
    child = waiting_step(parent, "call-child").child_run_id
    response = post(session, f"/api/runs/{parent}/steps/call-child/cancel", {}, **csrf(session))
    assert response.status_code == 200, response.content
    assert response.json()["cancelled"] == [child]
    assert wait_for_run(child).status == "cancelled"
    run = wait_for_run(parent)
    assert run.status == "completed" and run.output["caught"] == "InvokeCancelledError"
    entry = OperatorAction.objects.get(action="cancel_invoke")
    assert entry.run_ids == [parent, child] and entry.outcome == "done"
    again = post(session, f"/api/runs/{parent}/steps/call-child/cancel", {}, **csrf(session))
    assert again.status_code == 409


def test_invoke_actions_refuse_other_steps_and_bad_input(session: Client) -> None:
    headers = csrf(session)
    napping = started("waits/nap")
    waiting_step(napping, "nap")
    for verb in ("fail", "cancel"):
        refused = post(session, f"/api/runs/{napping}/steps/nap/{verb}", {}, **headers)
        assert refused.status_code == 409 and "sleep step, not a invoke" in refused.json()["error"]
        assert post(session, f"/api/runs/{napping}/steps/none/{verb}", {}, **headers).status_code == 409
        assert post(session, f"/api/runs/NOSUCHRUN/steps/nap/{verb}", {}, **headers).status_code == 404
    assert post(session, f"/api/runs/{napping}/steps/nap/cancel", {"cascade": "yes"}, **headers).status_code == 400
    assert Run.objects.get(id=napping).status == RunStatus.WAITING


def test_every_wait_action_needs_the_permission(worker) -> None:  # type: ignore[no-untyped-def]
    http = Client()
    http.force_login(operator("viewer", allowed=False))
    run_id = started("waits/nap")
    for url in (f"/api/runs/{run_id}/wake", f"/api/runs/{run_id}/steps/nap/fail",
                f"/api/runs/{run_id}/steps/nap/cancel"):
        response = post(http, url, {})
        assert response.status_code == 403 and "operate_run" in response.json()["error"]
        assert post(Client(), url, {}).status_code == 401
    assert not OperatorAction.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_wake_while_a_worker_holds_the_run_is_not_lost() -> None:
    """The run is claimed (its holder read the sleep as waiting) when the operator wakes it: the holder's
    commit sees the wake-up and makes the run due now, not at the sleep's end an hour later."""
    now = timezone.now()
    event = {"id": new_id(), "name": "waits/held", "data": {}, "user": {}, "ts": 0}
    run = new_run(app_id="it-waits-held", function_id="held", event=event, now=now)
    run.status, run.started_at = RunStatus.WAITING, now  # it ran before: its steps are loaded
    run.save()
    Step.objects.create(run=run, step_id="nap", kind=StepKind.SLEEP, status=StepStatus.WAITING, attempts=1,
                        deadline=now + timedelta(hours=1), started_at=now)
    [claim] = claim_runs("holder", ["it-waits-held"])
    memo = load_memo(claim)
    assert memo["nap"].status == StepStatus.WAITING

    assert waits.wake_sleep(run.id) == "nap"
    held = Run.objects.get(id=run.id)
    assert held.lease_owner == claim.lease_owner  # the holder keeps its lease; the wake is counted
    assert held.wakeups == claim.wakeups + 1

    finish_pass(claim, [], Suspended(), memo)  # the holder commits what it saw: the sleep still waiting
    after = Run.objects.get(id=run.id)
    assert after.lease_owner is None and after.ready_at is not None and after.ready_at <= timezone.now()
    [again] = claim_runs("holder", ["it-waits-held"])
    assert load_memo(again)["nap"].status == StepStatus.COMPLETED


def test_send_event_from_a_run_page_resolves_its_wait_is_audited_and_comes_back(session: Client) -> None:
    run_id = started("waits/approval", {"token": "t-9"})
    waiting_step(run_id, "approve")
    form = {"name": "waits/approved", "data": '{"token": "t-9", "ok": true}', "run_id": run_id}
    response = session.post("/events/send", form, **csrf(session))
    assert response.status_code == 302 and response["Location"] == f"/runs/{run_id}/"
    assert wait_for_run(run_id).output == {"got": {"token": "t-9", "ok": True}}
    entry = OperatorAction.objects.get(action="send_event")
    assert entry.run_ids == [run_id] and "waits/approved" in entry.detail
    # Without a run (the Events page), or naming no run that exists: sent, not audited on a run.
    for extra in ({}, {"run_id": "NOSUCHRUN"}, {"run_id": "../x"}):
        sent = session.post("/events/send", {"name": "waits/other", "data": "{}", **extra}, **csrf(session))
        assert sent.status_code == 302 and sent["Location"] == "/events/"
    assert OperatorAction.objects.filter(action="send_event").count() == 1


def test_the_python_client_wakes_and_refuses_as_the_api_does(worker) -> None:  # type: ignore[no-untyped-def]
    run_id = started("waits/nap")
    waiting_step(run_id, "nap")
    with pytest.raises(ActionRefused, match="no step 'other'"):
        client.wake_run(run_id, step_id="other")
    client.wake_run(run_id)
    assert wait_for_run(run_id).output == {"woke": True}
    assert list(OperatorAction.objects.order_by("id").values_list("action", "outcome", "username")) == [
        ("wake", "refused", "python"), ("wake", "done", "python")]


def test_the_run_page_offers_each_waiting_step_its_actions_to_operators_only(session: Client) -> None:
    napping, invoking = started("waits/nap"), started("waits/invoke")
    approving = started("waits/approval", {"token": "t-<b>"})
    waiting_step(napping, "nap"), waiting_step(invoking, "call-child"), waiting_step(approving, "approve")
    viewer = Client()
    viewer.force_login(operator("viewer", allowed=False))
    expected = {napping: ['data-wait-action="wake"'],
                invoking: ['data-wait-action="fail_invoke"', 'data-wait-action="cancel_invoke"'],
                approving: ['data-wait-action="send_event"', 'data-event-name="waits/approved"',
                            # prefilled data, escaped in the attribute
                            'data-event-data="{\n  &quot;token&quot;: &quot;t-&lt;b&gt;&quot;\n}"',
                            'id="send-event-dialog"']}
    for run_id, parts in expected.items():
        page = session.get(f"/runs/{run_id}/").content.decode()
        assert all(part in page for part in parts), run_id
        assert 'class="waiting-on"' in page  # the header points at the waiting step
        assert "data-wait-action" not in viewer.get(f"/runs/{run_id}/").content.decode()
    client.cancel_run(napping)
    assert "data-wait-action" not in session.get(f"/runs/{napping}/").content.decode()  # nothing waits now
