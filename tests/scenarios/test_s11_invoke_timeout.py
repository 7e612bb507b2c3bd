"""S11 (S5): when an invoke's timeout passes, the step fails with InvokeTimeoutError; the child keeps running."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from runs import client
from runs.sdk import App, Context, InvokeTimeoutError, StepError
from runs.testing import wait_for_run
from tests.helpers import run_id_for

app = App("s11-invoke-timeout-app")


@app.function(id="s11-slow-child", retries=0)
async def slow_child(ctx: Context) -> dict[str, Any]:
    await ctx.step.sleep("take-your-time", ctx.event.data.get("nap", "1500ms"))
    done = await ctx.step.run("finish", lambda: "child finished")
    return {"said": done}


@app.function(id="s11-impatient", trigger="s11/uncaught", retries=3)
async def impatient(ctx: Context) -> Any:
    return await ctx.step.invoke("call-slow", function=slow_child, timeout=300)


@app.function(id="s11-patient-enough", trigger="s11/caught")
async def patient_enough(ctx: Context) -> dict[str, Any]:
    try:
        await ctx.step.invoke("call-slow", function=slow_child, timeout=timedelta(milliseconds=300))
    except InvokeTimeoutError as exc:
        return {"caught": type(exc).__name__, "is_step_error": isinstance(exc, StepError), "child": exc.run_id,
                "message": exc.message}
    return {"caught": None}


@app.function(id="s11-in-time", trigger="s11/in-time")
async def in_time(ctx: Context) -> Any:
    return await ctx.step.invoke("call-slow", function=slow_child, data={"nap": 10}, timeout="30s")


def test_s11_timeout_fails_the_parent_and_the_child_runs_to_completion(worker) -> None:  # S11, S5
    parent = wait_for_run(run_id_for("s11/uncaught"), timeout=10)
    assert parent.status == "failed"
    assert parent.error is not None and parent.error["name"] == "InvokeTimeoutError"
    [step] = parent.steps
    assert step.status == "failed" and step.error is not None and step.error["type"] == "InvokeTimeoutError"
    assert step.child_run_id
    # Timed out while the child still sleeps: the child is not cancelled.
    child_now = client.get_run(step.child_run_id)
    assert child_now.status in ("queued", "running", "waiting")
    # Non-retriable and the parent's own condition (O2): no retry, and no child to blame.
    assert parent.attempts == 1
    assert parent.failure_cause_run_id is None

    child = wait_for_run(step.child_run_id, timeout=10)
    assert child.status == "completed" and child.output == {"said": "child finished"}
    assert child.parent_run_id == parent.id
    # The child's late end does not touch the parent's failed step or the parent.
    after = client.get_run(parent.id)
    assert after.status == "failed" and after.steps[0].status == "failed"
    assert after.steps[0].error == step.error and after.version == parent.version


def test_s11_timeout_is_a_catchable_step_error_naming_the_child(worker) -> None:  # S11
    parent = wait_for_run(run_id_for("s11/caught"), timeout=10)
    assert parent.status == "completed", parent.error
    child_id = parent.steps[0].child_run_id
    assert parent.output["caught"] == "InvokeTimeoutError" and parent.output["is_step_error"] is True
    assert parent.output["child"] == child_id
    assert "keeps running" in parent.output["message"]
    child = wait_for_run(child_id, timeout=10)  # type: ignore[arg-type]
    assert child.status == "completed"


def test_s11_a_child_that_ends_before_the_timeout_returns_its_value(worker) -> None:  # S11
    parent = wait_for_run(run_id_for("s11/in-time"), timeout=10)
    assert parent.status == "completed", parent.error
    assert parent.output == {"said": "child finished"}
