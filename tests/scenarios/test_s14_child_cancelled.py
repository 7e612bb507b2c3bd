"""S14 (and S17b, O3): a cancelled child fails the parent's invoke with a clear "invoked function was
cancelled" error; any run not yet finished (queued, running or waiting) can be cancelled."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from runs import client, testing
from runs.domain import RunInfo
from runs.exceptions import ActionRefused
from runs.sdk import App, Context, InvokeCancelledError, StepError
from runs.testing import wait_for_run
from tests.helpers import run_id_for, wait_until

app = App("s14-child-cancelled-app")

EXECUTED: Counter[str] = Counter()


def _note(name: str) -> str:
    EXECUTED[name] += 1
    return name


@app.function(id="s14-sleeper", trigger="s14/sleep")
async def sleeper(ctx: Context) -> str:
    await ctx.step.run("before-nap", _note, "sleeper")
    await ctx.step.sleep("long-nap", "1h")
    return await ctx.step.run("after-nap", _note, "woke")


@app.function(id="s14-waits-uncaught", trigger="s14/uncaught", retries=3)
async def waits_uncaught(ctx: Context) -> Any:
    return await ctx.step.invoke("call-sleeper", function=sleeper)


@app.function(id="s14-waits-caught", trigger="s14/caught")
async def waits_caught(ctx: Context) -> dict[str, Any]:
    try:
        await ctx.step.invoke("call-sleeper", function=sleeper)
    except InvokeCancelledError as exc:
        return {"caught": type(exc).__name__, "is_step_error": isinstance(exc, StepError), "child": exc.run_id,
                "name": exc.name, "message": exc.message}
    return {"caught": None}


@app.function(id="s14-never-run", trigger="s14/queued")
async def never_run(ctx: Context) -> str:
    return _note("never-run")


def _child_asleep(parent_id: str) -> RunInfo:
    """The parent's child once it is suspended on its one-hour sleep."""
    parent = wait_until(lambda: client.get_run(parent_id), lambda r: bool(r.steps and r.steps[0].child_run_id))
    child_id = parent.steps[0].child_run_id
    return wait_until(lambda: client.get_run(child_id),  # type: ignore[arg-type]
                      lambda r: r.status == "waiting" and any(s.step_id == "long-nap" for s in r.steps))


def test_s14_cancelled_child_fails_the_waiting_parent_with_a_clear_error(worker) -> None:  # S14
    parent_id = run_id_for("s14/uncaught")
    child = _child_asleep(parent_id)
    assert client.get_run(parent_id).status == "waiting"

    cancelled = client.cancel_run(child.id)
    assert cancelled.status == "cancelled"
    parent = wait_for_run(parent_id)
    assert parent.status == "failed"
    assert parent.error is not None and parent.error["name"] == "InvokeCancelledError"
    assert "invoked function was cancelled" in parent.error["message"]
    assert "{" not in parent.error["message"]  # a sentence, not a raw event payload
    [step] = parent.steps
    assert step.status == "failed" and step.child_run_id == child.id
    assert step.error is not None and step.error["type"] == "InvokeCancelledError"
    # Non-retriable; O2: the cancelled child is what failed the parent.
    assert parent.attempts == 1
    assert parent.failure_cause_run_id == child.id
    assert client.get_run(child.id).status == "cancelled"


def test_s14_cancellation_is_a_catchable_step_error(worker) -> None:  # S14
    parent_id = run_id_for("s14/caught")
    child = _child_asleep(parent_id)
    client.cancel_run(child.id)
    parent = wait_for_run(parent_id)
    assert parent.status == "completed", parent.error
    assert parent.output["caught"] == "InvokeCancelledError" and parent.output["is_step_error"] is True
    assert parent.output["child"] == child.id
    assert "invoked function was cancelled" in parent.output["message"]


def test_s17b_a_waiting_run_can_be_cancelled_and_never_resumes(worker) -> None:  # S17b
    EXECUTED.clear()
    run_id = run_id_for("s14/sleep")
    wait_until(lambda: client.get_run(run_id), lambda r: r.status == "waiting")
    assert client.cancel_run(run_id).status == "cancelled"
    info = client.get_run(run_id)
    assert info.ended_at is not None
    assert EXECUTED == {"sleeper": 1}
    with pytest.raises(ActionRefused):
        client.cancel_run(run_id)  # a finished run cannot be cancelled again


def test_s17b_a_queued_run_can_be_cancelled_before_any_worker_sees_it(transactional_db) -> None:  # S17b
    EXECUTED.clear()
    with testing.worker():
        pass  # registers the functions (a worker syncs them on start), then stops: nothing will claim the run
    run_id = run_id_for("s14/queued")
    assert client.get_run(run_id).status == "queued"
    assert client.cancel_run(run_id).status == "cancelled"
    with testing.worker():
        probe = run_id_for("s14/queued")  # a later run of the same function does execute
        assert wait_for_run(probe).status == "completed"
    assert EXECUTED == {"never-run": 1}
    assert client.get_run(run_id).status == "cancelled"


def test_o3_cancelling_a_waiting_parent_with_cascade_cancels_its_child(worker) -> None:  # S17b, O3
    parent_id = run_id_for("s14/uncaught")
    child = _child_asleep(parent_id)
    client.cancel_run(parent_id, cascade=True)
    assert client.get_run(parent_id).status == "cancelled"  # not failed by its own cancelled child
    assert client.get_run(child.id).status == "cancelled"
