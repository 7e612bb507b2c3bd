"""S9: invoking a function that is not registered fails the invoke step at once, naming the id asked for."""

from __future__ import annotations

from typing import Any

from runs import client
from runs.sdk import App, Context, FunctionNotFoundError, StepError, reference_function
from runs.testing import wait_for_run
from tests.helpers import run_id_for

app = App("s9-not-found-app")

ATTEMPTS: list[int] = []


@app.function(id="s9-invokes-missing", trigger="s9/uncaught", retries=3)
async def invokes_missing(ctx: Context) -> Any:
    ATTEMPTS.append(ctx.attempt)
    return await ctx.step.invoke("call-ghost", function=reference_function("s9-ghost-function"))


@app.function(id="s9-catches-missing", trigger="s9/caught")
async def catches_missing(ctx: Context) -> dict[str, Any]:
    try:
        await ctx.step.invoke("call-ghost", function=reference_function("s9-ghost", app_id="s9-no-such-app"))
    except FunctionNotFoundError as exc:
        return {"caught": type(exc).__name__, "is_step_error": isinstance(exc, StepError), "message": exc.message,
                "run_id": exc.run_id}
    return {"caught": None}


@app.function(id="s9-sync-invokes-missing", trigger="s9/sync")
def sync_invokes_missing(ctx: Context) -> Any:
    return ctx.step.invoke("call-ghost", function=reference_function("s9-sync-ghost"))


def test_s9_missing_function_fails_the_step_at_once_and_names_the_id(worker) -> None:  # S9
    ATTEMPTS.clear()
    done = wait_for_run(run_id_for("s9/uncaught"))
    assert done.status == "failed"
    assert done.error is not None and "s9-ghost-function" in done.error["message"]
    assert done.error["name"] == "FunctionNotFoundError"
    [step] = done.steps
    assert step.kind == "invoke" and step.status == "failed" and step.attempts == 1
    assert step.child_run_id is None
    assert step.error is not None and "s9-ghost-function" in step.error["message"]
    # Non-retriable: the parent ran its body once to plan the invoke and once to see it fail, never retried.
    assert done.attempts == 1 and set(ATTEMPTS) == {0}
    # O2: a missing function is the run's own failure, so it is its own root cause.
    assert done.failure_cause_run_id is None
    assert client.list_runs(parent_run_id=done.id) == []


def test_s9_missing_function_in_another_app_is_a_catchable_step_error(worker) -> None:  # S9
    done = wait_for_run(run_id_for("s9/caught"))
    assert done.status == "completed", done.error
    assert done.output["caught"] == "FunctionNotFoundError" and done.output["is_step_error"] is True
    assert "s9-ghost" in done.output["message"] and "s9-no-such-app" in done.output["message"]
    assert done.output["run_id"] is None


def test_s9_missing_function_from_a_plain_def_function(worker) -> None:  # S9
    done = wait_for_run(run_id_for("s9/sync"))
    assert done.status == "failed"
    assert done.error is not None and "s9-sync-ghost" in done.error["message"]
    assert done.attempts == 1
