"""S2: the step id identifies an invocation across replays; one (parent run, step id) starts at most one child,
and a step id reused in one run gets deterministic suffixes (id, id:1, id:2)."""

from __future__ import annotations

from collections import Counter

from runs import client
from runs.sdk import App, Context
from runs.testing import wait_for_run

app = App("scenario-s2-app")

# In-process worker: module-level counters see every execution of a step body or a function body.
calls: Counter[str] = Counter()


@app.function(id="s2-child", retries=0)
async def child(ctx: Context) -> int:
    calls[f"child-{ctx.event.data['n']}"] += 1
    return ctx.event.data["n"] * 10


def _flaky() -> str:
    # Fails twice: the engine retries this step, replaying the parent (and its invoke) each time.
    calls["flaky"] += 1
    if calls["flaky"] < 3:
        raise RuntimeError("not yet")
    return "steady"


@app.function(id="s2-parent", trigger="s2/parent", retries=3)
async def parent(ctx: Context) -> dict:
    first = await ctx.step.invoke("call-child", function=child, data={"n": 1})
    flaky = await ctx.step.run("flaky", _flaky)
    await ctx.step.sleep("nap", "30ms")
    after = await ctx.step.run("after", lambda: "after")
    await ctx.step.sleep("nap", 20)
    calls["parent-body-end"] += 1
    if calls["parent-body-end"] == 1:
        # An error outside any step: the body is retried from the top, replaying every step above.
        raise RuntimeError("body fails once")
    return {"first": first, "flaky": flaky, "after": after}


@app.function(id="s2-loop", trigger="s2/loop")
async def loop(ctx: Context) -> dict:
    squares = [await ctx.step.run("item", lambda i=i: i * i) for i in range(3)]
    children = [await ctx.step.invoke("call", function=child, data={"n": i}) for i in range(3)]
    return {"squares": squares, "children": children}


@app.function(id="s2-loop-sync", trigger="s2/loop-sync")
def loop_sync(ctx: Context) -> dict:
    squares = [ctx.step.run("item", lambda i=i: i * i) for i in range(3)]
    children = [ctx.step.invoke("call", function=child, data={"n": i}) for i in range(3)]
    return {"squares": squares, "children": children}


def _children_of(run_id: str) -> list:
    return client.list_runs(parent_run_id=run_id)


def test_s2_one_child_per_invoke_step_across_replays_and_retries(worker) -> None:
    calls.clear()
    event_id = client.send("s2/parent", id="s2-parent-event")
    # A duplicate delivery of the same event id is not processed twice.
    assert client.send("s2/parent", id="s2-parent-event") == event_id
    [run] = client.runs_for_event(event_id)
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output == {"first": 10, "flaky": "steady", "after": "after"}
    # The parent replayed many times (3 flaky attempts, 2 sleeps, a body retry), yet one child exists.
    assert calls["flaky"] == 3 and calls["parent-body-end"] == 2
    [only_child] = _children_of(done.id)
    assert only_child.parent_step_id == "call-child" and only_child.status == "completed"
    assert calls["child-1"] == 1
    assert len(client.list_runs(function_id="s2-child")) == 1
    assert [s.step_id for s in done.steps] == ["call-child", "flaky", "nap", "after", "nap:1"]
    [invoke_step] = [s for s in done.steps if s.kind == "invoke"]
    assert invoke_step.child_run_id == only_child.id


def _check_loop_run(run_id: str) -> None:
    done = wait_for_run(run_id)
    assert done.status == "completed", done.error
    assert done.output == {"squares": [0, 1, 4], "children": [0, 10, 20]}
    assert [s.step_id for s in done.steps] == ["item", "item:1", "item:2", "call", "call:1", "call:2"]
    children = _children_of(run_id)
    by_step = {c.parent_step_id: c for c in children}
    assert len(children) == 3 and set(by_step) == {"call", "call:1", "call:2"}
    for index, step_id in enumerate(["call", "call:1", "call:2"]):
        assert client.get_run(by_step[step_id].id).output == index * 10
    invoke_children = {s.step_id: s.child_run_id for s in done.steps if s.kind == "invoke"}
    assert invoke_children == {step_id: child.id for step_id, child in by_step.items()}


def test_s2_reused_step_ids_get_deterministic_suffixes_async(worker) -> None:
    calls.clear()
    [run] = client.runs_for_event(client.send("s2/loop"))
    _check_loop_run(run.id)
    # Each suffixed invoke started its child exactly once although the loop replayed after every step.
    assert [calls[f"child-{n}"] for n in range(3)] == [1, 1, 1]


def test_s2_reused_step_ids_get_deterministic_suffixes_sync(worker) -> None:
    calls.clear()
    [run] = client.runs_for_event(client.send("s2/loop-sync"))
    _check_loop_run(run.id)
    assert [calls[f"child-{n}"] for n in range(3)] == [1, 1, 1]
