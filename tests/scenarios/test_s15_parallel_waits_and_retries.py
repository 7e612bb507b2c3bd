"""S5/S15 with parallel steps: waits and retries saved mid-pass are scheduled, and a step's retry time holds
even when something else wakes the run."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from runs import client
from runs.sdk import App, Context, RetryAfterError
from runs.testing import wait_for_run

app = App("scenario-s15-parallel")
CALLS: dict[str, list[float]] = {}


def record(name: str) -> str:
    CALLS.setdefault(name, []).append(time.monotonic())
    return name


@app.function(id="sleep-beside-work", trigger="s15p/sleep", retries=0)
async def sleep_beside_work(ctx: Context) -> str:
    await asyncio.gather(ctx.step.sleep("nap", 300), ctx.step.run("work", lambda: record("work")))
    return "woke"


@app.function(id="flaky-beside-work", trigger="s15p/flaky", retries=2)
async def flaky_beside_work(ctx: Context) -> str:
    def flaky() -> str:
        record("flaky")
        if len(CALLS["flaky"]) == 1:
            raise RuntimeError("first try fails")
        return "ok"

    await asyncio.gather(ctx.step.run("flaky", flaky), ctx.step.run("work", lambda: record("work")))
    return "done"


@app.function(id="quick-child", retries=0)
async def quick_child(ctx: Context) -> int:
    return 1


@app.function(id="retry-after-beside-invoke", trigger="s15p/retry-after", retries=2)
async def retry_after_beside_invoke(ctx: Context) -> str:
    def slow_to_recover() -> str:
        record("recover")
        if len(CALLS["recover"]) == 1:
            raise RetryAfterError("come back later", timedelta(milliseconds=800))
        return "ok"

    await asyncio.gather(ctx.step.invoke("child", function=quick_child), ctx.step.run("recover", slow_to_recover))
    return "done"


def run_of(name: str) -> str:
    [run] = client.runs_for_event(client.send(name))
    return run.id


def test_s5_a_sleep_planned_beside_a_step_that_was_saved_mid_pass_still_ends(worker) -> None:
    CALLS.clear()
    done = wait_for_run(run_of("s15p/sleep"), timeout=10)
    assert done.status == "completed" and done.output == "woke"


def test_s15_a_retry_planned_beside_a_step_that_was_saved_mid_pass_still_happens(worker) -> None:
    CALLS.clear()
    done = wait_for_run(run_of("s15p/flaky"), timeout=10)
    assert done.status == "completed" and done.output == "done"
    assert len(CALLS["flaky"]) == 2 and len(CALLS["work"]) == 1


def test_s15_retry_after_holds_even_when_a_child_ending_wakes_the_run(worker) -> None:
    CALLS.clear()
    done = wait_for_run(run_of("s15p/retry-after"), timeout=10)
    assert done.status == "completed"
    first, second = CALLS["recover"]
    assert second - first >= 0.8  # the child's end resumed the run at once, but the retry waited its time
