"""O4: a run's failed step is stored where the run fails (Run.failed_step_id), and a retry from the failure
reopens exactly that step, even when another failed step of the run carries the same error."""

from __future__ import annotations

import contextlib

import pytest

from runs import client
from runs.models import Run
from runs.sdk import App, Context, StepError
from runs.testing import wait_for_run

app = App("scenario-o4-failed-step")
FIXED = {"value": False}
CALLS: dict[str, int] = {}


def broken(name: str) -> str:
    CALLS[name] = CALLS.get(name, 0) + 1
    if not FIXED["value"]:
        raise ValueError("broken")  # the same error from both steps: only the stored id tells them apart
    return name


@app.function(id="o4-first-of-two", trigger="o4-failed-step/two", retries=0)
async def first_of_two(ctx: Context) -> str:
    try:
        await ctx.step.run("first", broken, "first")
    except StepError as exc:
        saved = exc
    else:
        return "fixed"
    with contextlib.suppress(StepError):  # the code catches the second failure: it is not what failed the run
        await ctx.step.run("second", broken, "second")
    raise saved


@app.function(id="o4-body", trigger="o4-failed-step/body", retries=0)
async def body_fails(ctx: Context) -> str:
    with contextlib.suppress(StepError):
        await ctx.step.run("caught", broken, "caught")
    raise RuntimeError("the body itself")


@app.function(id="o4-child", retries=0)
async def child(ctx: Context) -> str:
    return await ctx.step.run("child-work", broken, "child-work")


@app.function(id="o4-parent", trigger="o4-failed-step/invoke", retries=0)
async def parent(ctx: Context) -> str:
    await ctx.step.run("before", lambda: "ok")
    return await ctx.step.invoke("call-child", function=child)


@pytest.fixture(autouse=True)
def _reset() -> None:
    FIXED["value"] = False
    CALLS.clear()


def failed_run(event: str) -> str:
    [run] = client.runs_for_event(client.send(event))
    done = wait_for_run(run.id)
    assert done.status == "failed"
    return run.id


def test_the_step_whose_error_failed_the_run_is_stored_not_the_last_failed_step(worker) -> None:
    run_id = failed_run("o4-failed-step/two")
    assert Run.objects.get(id=run_id).failed_step_id == "first"
    info = client.get_run(run_id)
    assert info.failed_step_id == "first"
    assert info.error is not None and info.error["name"] == "ValueError" and info.error["step_id"] == "first"


def test_a_retry_from_the_failure_reopens_the_stored_step(worker) -> None:
    run_id = failed_run("o4-failed-step/two")
    FIXED["value"] = True
    client.retry_run(run_id, mode="from_failure")
    done = wait_for_run(run_id)
    assert done.status == "completed" and done.output == "fixed"
    assert CALLS == {"first": 2, "second": 1}  # "first" ran again; "second" was never reopened
    assert Run.objects.get(id=run_id).failed_step_id is None


def test_a_body_failure_stores_no_failed_step(worker) -> None:
    run_id = failed_run("o4-failed-step/body")
    assert Run.objects.get(id=run_id).failed_step_id is None


def test_an_invoke_whose_child_failed_is_the_parents_failed_step(worker) -> None:
    run_id = failed_run("o4-failed-step/invoke")
    assert Run.objects.get(id=run_id).failed_step_id == "call-child"
    info = client.get_run(run_id)
    child_run = Run.objects.get(parent_run_id=run_id)
    assert child_run.failed_step_id == "child-work"
    assert info.error is not None and info.error["run_id"] == child_run.id
