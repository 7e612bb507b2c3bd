"""O3: cancel a run with its descendants, race-free; O1b: runs started by send_event are not descendants."""

from __future__ import annotations

import asyncio
import time

import pytest

from runs import client
from runs.exceptions import ActionRefused
from runs.models import OperatorAction, Run
from runs.sdk import App, Context
from runs.status import ACTIVE_RUN_STATUSES
from runs.testing import wait_for_run

app = App("scenario-o3")


@app.function(id="o3-leaf", retries=0)
async def leaf(ctx: Context) -> int:
    await ctx.step.run("work", lambda: time.sleep(0.02))
    return 1


@app.function(id="o3-middle", retries=0)
async def middle(ctx: Context) -> int:
    values = await asyncio.gather(*(ctx.step.invoke(f"leaf-{i}", function=leaf) for i in range(3)))
    return sum(values)


@app.function(id="o3-spawner", trigger="o3/spawn", retries=0)
async def spawner(ctx: Context) -> int:
    total = 0
    for i in range(200):  # keeps invoking children while it is being cancelled
        total += await ctx.step.invoke(f"middle-{i}", function=middle)
    return total


@app.function(id="o3-sender", trigger="o3/send", retries=0)
async def sender(ctx: Context) -> None:
    await ctx.step.send_event("spawn-other", {"name": "o3/other"})
    await ctx.step.sleep("wait", "1h")


@app.function(id="o3-other", trigger="o3/other", retries=0)
async def other(ctx: Context) -> None:
    await ctx.step.sleep("wait", "1h")


def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)


def tree(root_id: str) -> list[Run]:
    return list(Run.objects.filter(root_run_id=root_id))


def test_o3_cascade_cancel_races_a_parent_that_keeps_invoking(worker) -> None:
    [root] = client.runs_for_event(client.send("o3/spawn"))
    wait_until(lambda: len(tree(root.id)) >= 12)  # the tree is busy growing
    client.cancel_run(root.id, cascade=True)
    assert wait_for_run(root.id).status == "cancelled"
    worker.stop()  # every pass in flight has committed (or found its lease gone) once the threads joined
    runs = tree(root.id)
    assert not [r.id for r in runs if r.status in ACTIVE_RUN_STATUSES], "an active descendant survived"
    assert not [r for r in runs if r.status == "failed"], "no run may fail because its child was cancelled"
    assert {r.status for r in runs} <= {"cancelled", "completed"}
    assert OperatorAction.objects.filter(action="cancel_cascade").count() == 1


def test_o3_cancel_without_cascade_leaves_children_running_and_parent_cancelled(worker) -> None:
    [root] = client.runs_for_event(client.send("o3/spawn"))
    wait_until(lambda: Run.objects.filter(root_run_id=root.id, function_id="o3-leaf").exists())
    client.cancel_run(root.id)
    assert wait_for_run(root.id).status == "cancelled"
    middle_runs = Run.objects.filter(parent_run_id=root.id)
    for run in middle_runs:
        assert wait_for_run(run.id).status in ("completed", "cancelled")
    assert any(wait_for_run(run.id).status == "completed" for run in middle_runs)


def test_o1b_cascade_does_not_cross_send_event_links(worker) -> None:
    [root] = client.runs_for_event(client.send("o3/send"))
    wait_until(lambda: Run.objects.filter(function_id="o3-other", status="waiting").exists())
    other_run = Run.objects.get(function_id="o3-other")
    assert other_run.triggered_by_run_id == root.id and other_run.root_run_id == other_run.id
    client.cancel_run(root.id, cascade=True)
    assert wait_for_run(root.id).status == "cancelled"
    assert client.get_run(other_run.id).status == "waiting"


def test_o3_cancel_refuses_finished_runs(worker) -> None:
    [root] = client.runs_for_event(client.send("o3/send"))
    wait_until(lambda: client.get_run(root.id).status == "waiting")
    client.cancel_run(root.id)
    with pytest.raises(ActionRefused):
        client.cancel_run(root.id)
