"""S3: invoke takes a local function object or reference_function(function_id=..., app_id=None); None means
the caller's own app, an explicit app_id reaches another app without importing its code. The target is checked
at run time (a missing one fails the step with FunctionNotFoundError naming the id, S9)."""

from __future__ import annotations

import pytest

from runs import client
from runs.sdk import App, Context, FunctionNotFoundError, reference_function
from runs.testing import wait_for_run

app = App("scenario-s3-app")
other_app = App("scenario-s3-other-app")


@app.function(id="s3-local", retries=0)
async def local(ctx: Context) -> str:
    return f"local:{ctx.event.data['x']}"


# Same function id in two apps: only the app id tells them apart.
@app.function(id="s3-shared-id", retries=0)
async def shared_here(ctx: Context) -> str:
    return "caller-app"


@other_app.function(id="s3-shared-id", retries=0)
async def shared_there(ctx: Context) -> str:
    return "other-app"


@app.function(id="s3-caller", trigger="s3/call")
async def caller(ctx: Context) -> dict:
    by_object = await ctx.step.invoke("by-object", function=local, data={"x": 1})
    by_ref = await ctx.step.invoke("by-ref", function=reference_function(function_id="s3-local"), data={"x": 2})
    same_app = await ctx.step.invoke("same-app", function=reference_function("s3-shared-id", app_id=None))
    other = await ctx.step.invoke(
        "other-app", function=reference_function(function_id="s3-shared-id", app_id="scenario-s3-other-app"))
    return {"by_object": by_object, "by_ref": by_ref, "same_app": same_app, "other": other}


@app.function(id="s3-missing", trigger="s3/missing")
async def calls_missing(ctx: Context) -> dict:
    try:
        await ctx.step.invoke("ghost", function=reference_function(function_id="s3-no-such-function"))
    except FunctionNotFoundError as exc:
        return {"caught": type(exc).__name__, "message": str(exc.message)}
    return {"caught": None}


@app.function(id="s3-missing-uncaught", trigger="s3/missing-uncaught", retries=3)
async def calls_missing_uncaught(ctx: Context) -> None:
    await ctx.step.invoke("ghost", function=reference_function("s3-ghost", app_id="scenario-s3-nowhere"))


def test_s3_reference_function_defaults_to_the_caller_app() -> None:
    ref = reference_function(function_id="f")
    assert ref.function_id == "f" and ref.app_id is None
    assert reference_function("f", app_id="a").app_id == "a"
    with pytest.raises(ValueError):
        reference_function("")


def test_s3_invoke_by_object_by_reference_and_across_apps(worker) -> None:
    [run] = client.runs_for_event(client.send("s3/call"))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output == {"by_object": "local:1", "by_ref": "local:2", "same_app": "caller-app",
                           "other": "other-app"}
    targets = {s.step_id: s.target for s in done.steps}
    assert targets == {"by-object": "scenario-s3-app/s3-local", "by-ref": "scenario-s3-app/s3-local",
                       "same-app": "scenario-s3-app/s3-shared-id",
                       "other-app": "scenario-s3-other-app/s3-shared-id"}
    children = {c.parent_step_id: c for c in client.list_runs(parent_run_id=done.id)}
    assert (children["other-app"].app_id, children["other-app"].function_id) == (
        "scenario-s3-other-app", "s3-shared-id")
    assert children["same-app"].app_id == "scenario-s3-app"


def test_s3_reference_to_a_missing_function_fails_the_step(worker) -> None:  # and S9
    [run] = client.runs_for_event(client.send("s3/missing"))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output["caught"] == "FunctionNotFoundError"
    assert "s3-no-such-function" in done.output["message"]
    [step] = done.steps
    assert step.status == "failed" and step.child_run_id is None
    assert client.list_runs(parent_run_id=done.id) == []


def test_s3_uncaught_missing_function_fails_the_run_without_retries(worker) -> None:  # and S9
    [run] = client.runs_for_event(client.send("s3/missing-uncaught"))
    done = wait_for_run(run.id)
    assert done.status == "failed"
    assert done.error["name"] == "FunctionNotFoundError"
    assert "s3-ghost" in done.error["message"] and "scenario-s3-nowhere" in done.error["message"]
    assert done.attempts == 1
