"""S7: parallel invokes (asyncio.gather, or ctx.step.parallel in plain `def` functions) start every child
without waiting for the others; the results come back in argument order."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest

from runs import client
from runs.domain import RunInfo
from runs.sdk import App, Context
from runs.testing import wait_for_run

app = App("scenario-s7-app")

# Argument order a, b, c; finishing order c, b, a (the longest stagger goes first).
_TAGS = (("a", 300), ("b", 150), ("c", 0))


@app.function(id="s7-gated", retries=0)
async def gated(ctx: Context) -> str:
    # Every child holds here until the test opens the gate, so none can finish before all exist.
    await ctx.step.wait_for_event("gate", event="s7/go", match="data.token", timeout="20s")
    await ctx.step.sleep("stagger", ctx.event.data["delay"])
    return ctx.event.data["tag"]


@app.function(id="s7-gather", trigger="s7/gather")
async def gather_parent(ctx: Context) -> list:
    token = ctx.event.data["token"]
    return list(await asyncio.gather(*[
        ctx.step.invoke(tag, function=gated, data={"token": token, "tag": tag, "delay": delay})
        for tag, delay in _TAGS
    ]))


def _invoker(ctx: Context, tag: str, delay: int) -> Callable[[], object]:
    return lambda: ctx.step.invoke(tag, function=gated,
                                   data={"token": ctx.event.data["token"], "tag": tag, "delay": delay})


@app.function(id="s7-parallel-sync", trigger="s7/parallel-sync")
def parallel_sync_parent(ctx: Context) -> list:
    return ctx.step.parallel([_invoker(ctx, tag, delay) for tag, delay in _TAGS])


def _poll(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _children(run_id: str) -> list[RunInfo]:
    return [client.get_run(c.id) for c in client.list_runs(parent_run_id=run_id)]


def _all_gated(run_id: str) -> bool:
    children = _children(run_id)
    return len(children) == 3 and all(
        any(s.step_id == "gate" and s.status == "waiting" for s in c.steps) for c in children)


@pytest.mark.parametrize("trigger", ["s7/gather", "s7/parallel-sync"])
def test_s7_parallel_invokes_start_all_children_at_once(worker, trigger: str) -> None:
    token = uuid.uuid4().hex
    [run] = client.runs_for_event(client.send(trigger, {"token": token}))
    _poll(lambda: _all_gated(run.id), "three children waiting at the gate")
    children = _children(run.id)
    # All three exist while none has finished: they were not started one after another.
    assert not any(c.is_terminal for c in children)
    # Started in one pass: one commit created all three children and recorded all three invoke steps.
    assert len({c.created_at for c in children}) == 1
    parent = client.get_run(run.id)
    assert parent.status == "waiting"
    assert sorted(s.step_id for s in parent.steps) == ["a", "b", "c"]
    assert all(s.kind == "invoke" and s.status == "waiting" for s in parent.steps)
    assert {s.child_run_id for s in parent.steps} == {c.id for c in children}

    client.send("s7/go", {"token": token})
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output == ["a", "b", "c"]  # argument order, not finishing order
    ended = {c.parent_step_id: c.ended_at for c in _children(run.id)}
    assert ended["c"] < ended["b"] < ended["a"]
    assert len(client.list_runs(parent_run_id=run.id)) == 3
