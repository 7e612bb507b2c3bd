"""S6: values crossing a run or step boundary are JSON with the standard library's semantics; a value that
cannot be serialised fails the step (or the run) with a clear non-retriable error naming it and the type."""

from __future__ import annotations

import json
from collections import Counter

from runs import client
from runs.sdk import App, Context, StepError
from runs.testing import wait_for_run

app = App("scenario-s6-app")

calls: Counter[str] = Counter()

ODD_VALUE = {"tuple": (1, 2, (3, 4)), 1: "int key", 2.5: "float key", "nested": {7: [None, True, 1.5]},
             "text": "ünïcode"}


@app.function(id="s6-odd-child", retries=0)
async def odd_child(ctx: Context) -> dict:
    return ODD_VALUE


@app.function(id="s6-tuple-child", retries=0)
def tuple_child(ctx: Context) -> tuple:
    return ("a", 1)


@app.function(id="s6-parent", trigger="s6/parent")
async def parent(ctx: Context) -> dict:
    from_child = await ctx.step.invoke("odd", function=odd_child)
    from_sync_child = await ctx.step.invoke("tuple", function=tuple_child)
    from_step = await ctx.step.run("odd-step", lambda: {1: (1, 2)})
    # What the parent sees must already be the round-tripped value, on first execution and on replay alike.
    return {"child": from_child, "sync_child": from_sync_child, "step": from_step,
            "child_types": [type(k).__name__ for k in from_child], "step_type": type(from_step["1"]).__name__}


def test_s6_child_value_reaches_parent_as_json_roundtrip(worker) -> None:
    [run] = client.runs_for_event(client.send("s6/parent"))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    # No body retry hid a raw (non-JSON) value: the first execution already saw the round-tripped one.
    assert done.attempts == 1
    expected = json.loads(json.dumps(ODD_VALUE))
    assert done.output["child"] == expected
    assert done.output["child"]["tuple"] == [1, 2, [3, 4]]
    assert done.output["child"]["1"] == "int key" and done.output["child"]["2.5"] == "float key"
    assert done.output["child_types"] == ["str"] * len(ODD_VALUE)
    assert done.output["sync_child"] == ["a", 1]
    assert done.output["step"] == {"1": [1, 2]} and done.output["step_type"] == "list"


@app.function(id="s6-set-step", trigger="s6/set-step", retries=3)
async def set_step(ctx: Context) -> str:
    calls["set-step-body"] += 1
    await ctx.step.run("make-set", lambda: {1, 2, 3})
    return "unreachable"


@app.function(id="s6-set-step-caught", trigger="s6/set-step-caught", retries=3)
def set_step_caught(ctx: Context) -> dict:
    try:
        ctx.step.run("make-set", lambda: {"a"})
    except StepError as exc:
        return {"name": exc.name, "message": exc.message, "non_retriable": True}
    return {}


def test_s6_step_returning_a_set_fails_the_step_without_retries(worker) -> None:
    calls.clear()
    [run] = client.runs_for_event(client.send("s6/set-step"))
    done = wait_for_run(run.id)
    assert done.status == "failed"
    [step] = done.steps
    assert step.step_id == "make-set" and step.status == "failed"
    assert step.attempts == 1  # retries=3 are not used: the error is non-retriable
    assert step.error["name"] == "SerializationError"
    assert "make-set" in step.error["message"] and "set" in step.error["message"]
    assert done.error["name"] == "SerializationError"
    assert "make-set" in done.error["message"] and "set" in done.error["message"]
    assert done.attempts == 1


def test_s6_serialisation_failure_of_a_step_can_be_caught(worker) -> None:
    [run] = client.runs_for_event(client.send("s6/set-step-caught"))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output["name"] == "SerializationError"
    assert "make-set" in done.output["message"] and "set" in done.output["message"]


@app.function(id="s6-returns-set", trigger="s6/returns-set", retries=3)
async def returns_set(ctx: Context) -> set:
    calls["returns-set"] += 1
    return {1, 2}


@app.function(id="s6-invokes-set", trigger="s6/invokes-set", retries=3)
async def invokes_set(ctx: Context) -> dict:
    try:
        await ctx.step.invoke("bad-child", function=returns_set)
    except StepError as exc:
        return {"name": exc.name, "message": exc.message, "child": exc.run_id}
    return {}


def test_s6_function_returning_a_set_fails_the_run_without_retries(worker) -> None:
    calls.clear()
    [run] = client.runs_for_event(client.send("s6/returns-set"))
    done = wait_for_run(run.id)
    assert done.status == "failed"
    assert done.error["name"] == "SerializationError"
    assert "s6-returns-set" in done.error["message"] and "set" in done.error["message"]
    assert done.attempts == 1 and calls["returns-set"] == 1
    assert done.output is None


def test_s6_parent_of_a_child_returning_a_set_sees_the_serialisation_error(worker) -> None:
    calls.clear()
    [run] = client.runs_for_event(client.send("s6/invokes-set"))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output["name"] == "SerializationError"
    assert "s6-returns-set" in done.output["message"]
    child = client.get_run(done.output["child"])
    assert child.status == "failed" and child.attempts == 1 and calls["returns-set"] == 1


@app.function(id="s6-set-data", trigger="s6/set-data", retries=3)
async def set_data(ctx: Context) -> None:
    calls["set-data-body"] += 1
    await ctx.step.invoke("send-set", function=odd_child, data={"tags": {"x"}})


def test_s6_invoke_data_that_is_not_json_fails_the_run_without_retries(worker) -> None:
    calls.clear()
    [run] = client.runs_for_event(client.send("s6/set-data"))
    done = wait_for_run(run.id)
    assert done.status == "failed"
    assert done.error["name"] == "SerializationError"
    assert "send-set" in done.error["message"] and "set" in done.error["message"]
    assert done.attempts == 1 and calls["set-data-body"] == 1
    assert client.list_runs(parent_run_id=done.id) == []  # no child was started with bad data
