"""S16: replay is deterministic. A finished step is never executed again; a run whose code no longer matches
its recorded steps fails with a clear NondeterminismError naming the step."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from runs import client
from runs.sdk import App, Context
from runs.testing import wait_for_run

app = App("s16-replay-app")

EXECUTED: Counter[str] = Counter()
MODE = {"reserve": "run", "target": "a", "swallow": False}  # flipped by tests while a run waits


def _note(name: str) -> str:
    EXECUTED[name] += 1
    return f"{name} done"


@app.function(id="s16-child")
async def child(ctx: Context) -> str:
    return await ctx.step.run("child-work", _note, "child")


@app.function(id="s16-other-child")
async def other_child(ctx: Context) -> str:
    return "other"


@app.function(id="s16-many-passes", trigger="s16/many")
async def many_passes(ctx: Context) -> list[Any]:
    EXECUTED["body"] += 1
    first = await ctx.step.run("first", _note, "first")
    await ctx.step.sleep("nap", 50)
    second = await ctx.step.run("second", _note, "second")
    invoked = await ctx.step.invoke("call-child", function=child)
    third = await ctx.step.run("third", _note, "third")
    return [first, second, invoked, third]


@app.function(id="s16-changing", trigger="s16/changing", retries=3)
async def changing(ctx: Context) -> str:
    try:
        if MODE["reserve"] == "run":
            await ctx.step.run("reserve", _note, "reserve")
        elif MODE["reserve"] == "invoke":
            await ctx.step.invoke("reserve", function=child)
        else:
            await ctx.step.sleep("reserve", 10)
    except Exception:
        if not MODE["swallow"]:
            raise
    await ctx.step.wait_for_event("gate", event="s16/gate", timeout="1h")
    return "finished"


@app.function(id="s16-changing-target", trigger="s16/changing-target")
async def changing_target(ctx: Context) -> str:
    await ctx.step.run("reserve", _note, "reserve")
    await ctx.step.wait_for_event("gate", event="s16/gate", timeout="1h")
    await ctx.step.invoke("notify", function=child if MODE["target"] == "a" else other_child)
    await ctx.step.wait_for_event("gate-2", event="s16/gate-2", timeout="1h")
    return "finished"


def _wait_for_step(run_id: str, step_id: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        run = client.get_run(run_id)
        if run.status == "waiting" and any(s.step_id == step_id and s.status == "waiting" for s in run.steps):
            return
        assert run.status in ("queued", "running", "waiting"), run.error
        if time.monotonic() >= deadline:
            raise TimeoutError(f"run {run_id} never waited on {step_id!r}")
        time.sleep(0.01)


@pytest.fixture
def mode():  # type: ignore[no-untyped-def]
    EXECUTED.clear()
    MODE.update(reserve="run", target="a", swallow=False)
    yield MODE
    MODE.update(reserve="run", target="a", swallow=False)


def test_s16_a_finished_step_is_never_executed_again(worker, mode) -> None:  # S16
    [run] = client.runs_for_event(client.send("s16/many"))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output == ["first done", "second done", "child done", "third done"]
    assert EXECUTED["body"] >= 3  # replayed after the sleep and after the invoke
    assert {key: n for key, n in EXECUTED.items() if key != "body"} == {"first": 1, "second": 1, "child": 1,
                                                                       "third": 1}
    assert len(client.list_runs(parent_run_id=done.id)) == 1


@pytest.mark.parametrize("now_asks_for", ["invoke", "sleep"])
def test_s16_a_step_whose_kind_changed_fails_the_run_naming_the_step(worker, mode, now_asks_for) -> None:  # S16
    [run] = client.runs_for_event(client.send("s16/changing"))
    _wait_for_step(run.id, "gate")
    mode["reserve"] = now_asks_for  # a deploy changed the code while the run waited
    client.send("s16/gate")
    done = wait_for_run(run.id)
    assert done.status == "failed"
    assert done.error is not None and done.error["name"] == "NondeterminismError"
    assert "'reserve'" in done.error["message"] and now_asks_for in done.error["message"]
    assert done.attempts == 1  # not retried: replaying again cannot help
    assert EXECUTED["reserve"] == 1
    assert client.list_runs(parent_run_id=done.id) == []  # the changed code started nothing


def test_s16_user_code_cannot_swallow_the_nondeterminism_error(worker, mode) -> None:  # S16
    mode["swallow"] = True
    [run] = client.runs_for_event(client.send("s16/changing"))
    _wait_for_step(run.id, "gate")
    mode["reserve"] = "invoke"
    client.send("s16/gate")
    done = wait_for_run(run.id)
    assert done.status == "failed" and done.error["name"] == "NondeterminismError"


def test_s16_an_invoke_whose_target_changed_fails_the_run(worker, mode) -> None:  # S16
    [run] = client.runs_for_event(client.send("s16/changing-target"))
    _wait_for_step(run.id, "gate")
    client.send("s16/gate")
    _wait_for_step(run.id, "gate-2")
    mode["target"] = "b"
    client.send("s16/gate-2")
    done = wait_for_run(run.id)
    assert done.status == "failed" and done.error["name"] == "NondeterminismError"
    assert "'notify'" in done.error["message"] and "s16-other-child" in done.error["message"]
    assert len(client.list_runs(parent_run_id=done.id)) == 1  # only the child of the original code
