"""S8: `inngest/function.finished` ({function_id, run_id, correlation_id, result | error, status}) is emitted
when a run ends. A function triggered by it runs for other functions' runs, never for its own (no loops);
invoking such a listener still resumes the caller."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runs import client, testing
from runs.domain import RunInfo
from runs.sdk import App, Context
from runs.sdk.app import FUNCTION_FINISHED, registered_apps
from runs.store.ending import forget_listeners
from runs.testing import wait_for_run
from runs.worker import Worker

app = App("scenario-s8-app")
listener_app = App("scenario-s8-listener-app")


@app.function(id="s8-work", trigger="s8/work", retries=0)
async def work(ctx: Context) -> dict:
    return {"doubled": ctx.event.data["n"] * 2}


@app.function(id="s8-fails", trigger="s8/fails", retries=0)
async def fails(ctx: Context) -> None:
    raise ValueError("boom")


@app.function(id="s8-parent", trigger="s8/parent")
async def parent(ctx: Context) -> dict:
    child = await ctx.step.invoke("call-work", function=work, data={"n": 5})
    # The listener invoked directly: its own run's end triggers no listener run, yet this step resolves.
    echoed = await ctx.step.invoke("call-listener", function=listener, data={"hello": "listener"})
    return {"child": child, "echoed": echoed}


@listener_app.function(id="s8-listener", trigger=FUNCTION_FINISHED, retries=0)
async def listener(ctx: Context) -> dict:
    return {"name": ctx.event.name, "data": ctx.event.data}


# A finished-event listener runs after every run that ends. Registered for the whole session it would add
# runs to every other test module; it is registered only while this module's tests run (fixture below).
registered_apps().pop(listener_app.id, None)


@pytest.fixture
def listening_worker(transactional_db, fast_retries) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    registered_apps()[listener_app.id] = listener_app
    try:
        with testing.worker() as running:
            yield running
    finally:
        registered_apps().pop(listener_app.id, None)
        forget_listeners()


def _listener_runs() -> list[RunInfo]:
    # A listener run is created in the same transaction that ends the run it hears about, so once that run
    # is terminal every listener run it will ever cause already exists: counting needs no waiting.
    return [wait_for_run(r.id) for r in client.list_runs(function_id="s8-listener")]


def _heard_about(run_id: str) -> list[dict]:
    return [r.output["data"] for r in _listener_runs()
            if r.output and r.output["name"] == FUNCTION_FINISHED and r.output["data"]["run_id"] == run_id]


def test_s8_listener_receives_a_completed_run(listening_worker) -> None:
    [run] = client.runs_for_event(client.send("s8/work", {"n": 21}))
    done = wait_for_run(run.id)
    assert done.status == "completed"
    [heard] = _heard_about(done.id)
    assert heard["function_id"] == "s8-work" and heard["run_id"] == done.id
    assert heard["status"] == "completed" and heard["result"] == {"doubled": 42}
    assert "error" not in heard and heard["correlation_id"] is None
    # Exactly one listener run: its own end did not trigger another one (no loop).
    [listener_run] = _listener_runs()
    assert listener_run.status == "completed"
    assert len(client.list_runs(function_id="s8-listener")) == 1


def test_s8_listener_receives_a_failed_run(listening_worker) -> None:
    [run] = client.runs_for_event(client.send("s8/fails"))
    done = wait_for_run(run.id)
    assert done.status == "failed"
    [heard] = _heard_about(done.id)
    assert heard["status"] == "failed" and "result" not in heard
    assert heard["error"]["name"] == "ValueError" and heard["error"]["message"] == "boom"
    assert len(client.list_runs(function_id="s8-listener")) == 1


def test_s8_invoking_the_listener_resumes_and_children_are_correlated(listening_worker) -> None:
    [run] = client.runs_for_event(client.send("s8/parent"))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output["child"] == {"doubled": 10}
    # Invoked, the listener gets the invoke's data (not a finished event) and the caller resumes.
    assert done.output["echoed"] == {"name": "inngest/function.invoked", "data": {"hello": "listener"}}
    child_id = next(s.child_run_id for s in done.steps if s.step_id == "call-work")
    [heard_child] = _heard_about(child_id)
    assert heard_child["correlation_id"] == f"{done.id}.call-work"
    assert heard_child["function_id"] == "s8-work" and heard_child["result"] == {"doubled": 10}
    [heard_parent] = _heard_about(done.id)
    assert heard_parent["function_id"] == "s8-parent" and heard_parent["result"] == done.output
    # Listener runs: one per finished run of another function (the child, the parent) plus the invoked one;
    # none for the end of any listener run.
    runs = _listener_runs()
    assert len(runs) == 3
    heard_ids = {r.output["data"].get("run_id") for r in runs if r.output["name"] == FUNCTION_FINISHED}
    assert heard_ids == {child_id, done.id}
    assert all(r.status == "completed" for r in runs)
