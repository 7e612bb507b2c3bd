"""S20: limits, each with a clear error: steps per run (1,000), step output (4 MiB), event size (512 KiB),
invocation depth (RUNS_MAX_INVOKE_DEPTH)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from runs import client
from runs.exceptions import InvalidEvent
from runs.models import Event
from runs.sdk import App, Context
from runs.testing import wait_for_run

app = App("s20-limits-app")

MIB = 1024 * 1024
EXECUTED: Counter[str] = Counter()


@app.function(id="s20-many-steps", trigger="s20/steps")
async def many_steps(ctx: Context) -> int:
    # Two batches with a sleep between: the second pass counts the steps recorded by the first.
    first, second = ctx.event.data["first"], ctx.event.data["second"]
    ones = await asyncio.gather(*(ctx.step.run("add", lambda: 1) for _ in range(first)))  # add, add:1, ...
    await ctx.step.sleep("pause", 1)
    more = await asyncio.gather(*(ctx.step.run("more", lambda: 1) for _ in range(second)))
    return sum(ones) + sum(more)


@app.function(id="s20-many-steps-sync", trigger="s20/steps-sync")
def many_steps_sync(ctx: Context) -> int:
    calls = [lambda i=i: ctx.step.sleep(f"nap-{i}", 1) for i in range(ctx.event.data["n"])]
    ctx.step.parallel(calls)
    return len(calls)


@app.function(id="s20-big-step-output", trigger="s20/big-step", retries=3)
async def big_step_output(ctx: Context) -> int:
    def blob() -> str:
        EXECUTED["blob"] += 1
        return "x" * (4 * MIB)  # 4 MiB of characters is more than 4 MiB of JSON (the quotes)

    value = await ctx.step.run("make-blob", blob)
    return len(value)


@app.function(id="s20-near-limit-output", trigger="s20/near-limit")
async def near_limit_output(ctx: Context) -> int:
    value = await ctx.step.run("make-blob", lambda: "x" * (4 * MIB - 2))  # exactly 4 MiB as JSON
    return len(value)


@app.function(id="s20-big-return", trigger="s20/big-return", retries=3)
async def big_return(ctx: Context) -> str:
    EXECUTED["big-return"] += 1
    return "y" * (5 * MIB)


@app.function(id="s20-recurse", trigger="s20/recurse")
async def recurse(ctx: Context) -> Any:
    level = ctx.event.data.get("level", 0)
    return await ctx.step.invoke("deeper", function=recurse, data={"level": level + 1})


def _finish(event_name: str, data: dict[str, Any] | None = None, timeout: float = 60) -> Any:
    EXECUTED.clear()
    [run] = client.runs_for_event(client.send(event_name, data))
    return wait_for_run(run.id, timeout=timeout)


def test_s20_a_run_may_have_1000_steps_and_not_one_more(worker) -> None:  # S20
    done = _finish("s20/steps", {"first": 500, "second": 499})  # 500 + the sleep + 499
    assert done.status == "completed", done.error
    assert done.output == 999 and len(done.steps) == 1000

    done = _finish("s20/steps", {"first": 500, "second": 500})
    assert done.status == "failed"
    assert done.error is not None and done.error["name"] == "LimitExceeded"
    assert "1000 steps" in done.error["message"]
    assert done.attempts == 1  # a limit is not retried
    assert len(client.get_run(done.id).steps) <= 1000


def test_s20_the_step_limit_holds_in_plain_def_functions(worker) -> None:  # S20
    done = _finish("s20/steps-sync", {"n": 1001})
    assert done.status == "failed" and done.error["name"] == "LimitExceeded"
    assert client.get_run(done.id).steps == []  # a failed run is left with no step waiting on anything


def test_s20_a_step_output_over_4_mib_fails_the_step_clearly(worker) -> None:  # S20
    done = _finish("s20/big-step")
    assert done.status == "failed"
    assert done.error is not None and done.error["name"] == "LimitExceeded"
    assert "'make-blob'" in done.error["message"] and "4 MiB" in done.error["message"]
    assert EXECUTED["blob"] == 1 and done.attempts == 1  # non-retriable: the same output would be too big again
    [step] = done.steps
    assert step.status == "failed" and step.output is None

    done = _finish("s20/near-limit")
    assert done.status == "completed", done.error
    assert done.output == 4 * MIB - 2


def test_s20_a_return_value_over_4_mib_fails_the_run_clearly(worker) -> None:  # S20
    done = _finish("s20/big-return")
    assert done.status == "failed" and done.error["name"] == "LimitExceeded"
    assert "s20-big-return" in done.error["message"] and "4 MiB" in done.error["message"]
    assert EXECUTED["big-return"] == 1 and done.output is None


def test_s20_an_event_over_512_kib_is_refused_at_send(transactional_db) -> None:  # S20
    before = Event.objects.count()
    with pytest.raises(InvalidEvent, match="512 KiB"):
        client.send("s20/big-event", {"blob": "z" * (512 * 1024)})
    with pytest.raises(InvalidEvent, match="512 KiB"):
        client.send_many([{"name": "s20/small"}, {"name": "s20/big-event", "data": {"blob": "z" * (512 * 1024)}}])
    assert Event.objects.count() == before  # nothing stored, not even the valid event of the batch
    assert client.send("s20/fine-event", {"blob": "z" * (256 * 1024)})


def test_s20_endless_self_invoke_stops_at_the_depth_limit(worker, settings) -> None:  # S20, O2
    settings.RUNS_MAX_INVOKE_DEPTH = 5
    root = _finish("s20/recurse", timeout=30)
    assert root.status == "failed"
    chain = sorted(client.list_runs(root_run_id=root.id), key=lambda r: r.depth)
    assert [r.depth for r in chain] == [0, 1, 2, 3, 4, 5]  # the run at depth 5 may not start depth 6
    assert all(r.status == "failed" for r in chain)

    deepest = client.get_run(chain[-1].id)
    assert deepest.error is not None and deepest.error["name"] == "InvokeDepthError"
    assert "RUNS_MAX_INVOKE_DEPTH" in deepest.error["message"] and "5" in deepest.error["message"]
    assert deepest.steps[0].child_run_id is None
    # O2: the deepest run is the root cause; every ancestor failed because of its child.
    assert deepest.failure_cause_run_id is None
    for parent, child in zip(chain, chain[1:], strict=False):
        assert parent.failure_cause_run_id == child.id
        assert parent.error is not None and parent.error["name"] == "InvokeDepthError"
    assert all(r.attempts == 1 for r in chain)
