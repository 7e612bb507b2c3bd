"""S12: invoking a child whose own rate limit is reached fails the parent's invoke step at once with
RateLimitedError (a StepError); the child is stored `skipped` with a reason and never executes. The parent is
the root cause (O2): no failure_cause_run_id. Each child goes through its own function's limit (S1)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from runs import client
from runs.sdk import App, Context, RateLimit, RateLimitedError, StepError
from runs.testing import wait_for_run
from tests.helpers import run_for

app = App("s12-rate-limited-child-app")

EXECUTED: Counter[str] = Counter()


@app.function(id="s12-scarce", retries=0, rate_limit=RateLimit(limit=1, period="1h"))
async def scarce(ctx: Context) -> str:
    EXECUTED["scarce"] += 1
    return "scarce done"


@app.function(id="s12-caller-caught", trigger="s12/caught", retries=3)
async def caller_caught(ctx: Context) -> dict[str, Any]:
    try:
        got = await ctx.step.invoke("call-scarce", function=scarce, timeout="1h")
    except RateLimitedError as exc:
        return {"caught": type(exc).__name__, "is_step_error": isinstance(exc, StepError), "child": exc.run_id,
                "message": exc.message}
    return {"got": got}


@app.function(id="s12-caller-uncaught", trigger="s12/uncaught", retries=3)
async def caller_uncaught(ctx: Context) -> Any:
    return await ctx.step.invoke("call-scarce", function=scarce, timeout="1h")


def test_s12_a_rate_limited_child_fails_the_invoke_at_once(worker) -> None:  # S12, S18
    EXECUTED.clear()
    first = wait_for_run(run_for("s12/caught").id)
    assert first.output == {"got": "scarce done"}  # the first invoke is within the limit

    started = time.monotonic()
    second = wait_for_run(run_for("s12/caught").id)
    assert time.monotonic() - started < 5  # at once, not at the invoke's one-hour timeout
    assert second.status == "completed", second.error
    assert second.output["caught"] == "RateLimitedError" and second.output["is_step_error"] is True
    assert "rate limited" in second.output["message"]
    skipped = client.get_run(second.output["child"])
    assert skipped.status == "skipped" and "rate limited" in skipped.status_reason
    assert skipped.parent_run_id == second.id and skipped.started_at is None
    [step] = second.steps
    assert step.status == "failed" and step.child_run_id == skipped.id
    assert EXECUTED == {"scarce": 1}


def test_s12_uncaught_it_fails_the_parent_without_retries_as_its_own_root_cause(worker) -> None:  # S12, O2
    EXECUTED.clear()
    wait_for_run(run_for("s12/caught").id)  # uses up the child's limit (if an earlier test did not already)
    parent = wait_for_run(run_for("s12/uncaught").id)
    assert parent.status == "failed"
    assert parent.error is not None and parent.error["name"] == "RateLimitedError"
    assert parent.attempts == 1  # non-retriable
    assert parent.failure_cause_run_id is None  # the parent's own condition (O2)
    [step] = parent.steps
    assert step.error is not None and step.error["type"] == "RateLimitedError"
    assert client.get_run(step.child_run_id).status == "skipped"  # type: ignore[arg-type]
    assert EXECUTED["scarce"] <= 1
