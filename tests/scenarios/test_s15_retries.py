"""S15: retries per function (N retries after the first attempt, default 4), per step and for the body;
NonRetriableError stops at once; RetryAfterError sets the next attempt's time, never scaled."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

from runs import client
from runs.sdk import App, Context, NonRetriableError, RetryAfterError
from runs.testing import wait_for_run

app = App("s15-retries-app")

CALLS: defaultdict[str, list[Any]] = defaultdict(list)  # per scenario: what each execution saw


class Flaky(Exception):
    pass


def _fail_until(key: str, failures: int, attempt: int) -> str:
    """Fails the first `failures` executions of `key`, then succeeds."""
    CALLS[key].append(attempt)
    if len(CALLS[key]) <= failures:
        raise Flaky(f"{key} failure {len(CALLS[key])}")
    return f"{key} ok"


@app.function(id="s15-always-fails-r2", trigger="s15/always-r2", retries=2)
async def always_fails_r2(ctx: Context) -> None:
    await ctx.step.run("doomed", _fail_until, "always-r2", 99, ctx.attempt)


@app.function(id="s15-always-fails-default", trigger="s15/always-default")
async def always_fails_default(ctx: Context) -> None:
    await ctx.step.run("doomed", _fail_until, "always-default", 99, ctx.attempt)


@app.function(id="s15-no-retries", trigger="s15/r0", retries=0)
def no_retries(ctx: Context) -> None:
    ctx.step.run("doomed", _fail_until, "r0", 99, ctx.attempt)


@app.function(id="s15-flaky-step", trigger="s15/flaky", retries=3)
async def flaky_step(ctx: Context) -> str:
    return await ctx.step.run("flaky", _fail_until, "flaky", 2, ctx.attempt)


@app.function(id="s15-non-retriable", trigger="s15/non-retriable", retries=5)
async def non_retriable(ctx: Context) -> None:
    def refuse() -> None:
        CALLS["non-retriable"].append(ctx.attempt)
        raise NonRetriableError("card declined")

    await ctx.step.run("charge", refuse)


@app.function(id="s15-retry-after", trigger="s15/retry-after", retries=3)
async def retry_after(ctx: Context) -> str:
    def later() -> str:
        CALLS["retry-after"].append(time.monotonic())
        if len(CALLS["retry-after"]) == 1:
            raise RetryAfterError("rate limited upstream", 300)
        if len(CALLS["retry-after"]) == 2:
            raise RetryAfterError("still rate limited", timedelta(milliseconds=300))
        return "sent"

    return await ctx.step.run("send", later)


@app.function(id="s15-body-fails", trigger="s15/body", retries=2)
async def body_fails(ctx: Context) -> None:
    await ctx.step.run("setup", _fail_until, "body-setup", 0, ctx.attempt)
    CALLS["body"].append(ctx.attempt)
    raise Flaky("the body itself failed")


@app.function(id="s15-body-flaky", trigger="s15/body-flaky", retries=2)
def body_flaky(ctx: Context) -> str:
    CALLS["body-flaky"].append(ctx.attempt)
    if len(CALLS["body-flaky"]) <= 2:
        raise Flaky("not yet")
    return "body ok"


@app.function(id="s15-separate-budgets", trigger="s15/separate", retries=1)
async def separate_budgets(ctx: Context) -> list[str]:
    first = await ctx.step.run("first", _fail_until, "first", 1, ctx.attempt)
    second = await ctx.step.run("second", _fail_until, "second", 1, ctx.attempt)
    return [first, second]


@app.function(id="s15-retried-then-more", trigger="s15/retried-then-more", retries=1)
async def retried_then_more(ctx: Context) -> list[str]:
    first = await ctx.step.run("first", _fail_until, "retried", 1, ctx.attempt)
    # A step after the retried one: its side effect starts only after a checkpoint has stored the retry.
    second = await ctx.step.run("second", lambda: "second ok")
    return [first, second]


@app.function(id="s15-no-failures", trigger="s15/clean")
async def no_failures(ctx: Context) -> int:
    CALLS["clean"].append(ctx.attempt)
    return await ctx.step.run("one", lambda: 1)


def _finish(event_name: str) -> Any:
    CALLS.clear()
    [run] = client.runs_for_event(client.send(event_name))
    return wait_for_run(run.id, timeout=20)


def test_s15_retries_n_means_n_retries_after_the_first_attempt(worker) -> None:  # S15
    done = _finish("s15/always-r2")
    assert done.status == "failed" and done.error["name"] == "Flaky"
    assert CALLS["always-r2"] == [0, 1, 2]  # ctx.attempt is 0-based
    assert done.attempts == 3 and done.steps[0].attempts == 3 and done.steps[0].status == "failed"
    assert [entry["attempt"] for entry in done.steps[0].history] == [1, 2, 3]


def test_s15_default_is_four_retries(worker) -> None:  # S15
    done = _finish("s15/always-default")
    assert done.status == "failed"
    assert CALLS["always-default"] == [0, 1, 2, 3, 4]
    assert done.attempts == 5


def test_s15_zero_retries_means_one_attempt(worker) -> None:  # S15
    done = _finish("s15/r0")
    assert done.status == "failed" and CALLS["r0"] == [0] and done.attempts == 1


def test_s15_a_step_failing_twice_then_succeeding_completes(worker) -> None:  # S15
    done = _finish("s15/flaky")
    assert done.status == "completed", done.error
    assert done.output == "flaky ok"
    assert CALLS["flaky"] == [0, 1, 2]
    assert done.attempts == 3
    [step] = done.steps
    assert step.status == "completed" and step.attempts == 3
    assert [entry["status"] for entry in step.history] == ["retrying", "retrying", "completed"]


def test_s15_non_retriable_error_stops_at_once(worker) -> None:  # S15
    done = _finish("s15/non-retriable")
    assert done.status == "failed"
    assert done.error["name"] == "NonRetriableError" and done.error["message"] == "card declined"
    assert CALLS["non-retriable"] == [0] and done.attempts == 1


def test_s15_retry_after_sets_the_next_attempt_and_is_not_scaled(worker) -> None:  # S15
    # The worker fixture sets RUNS_RETRY_BASE_SECONDS=0.01: a scaled 300 ms would be 3 ms.
    done = _finish("s15/retry-after")
    assert done.status == "completed", done.error
    times = CALLS["retry-after"]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.3 and times[2] - times[1] >= 0.3
    assert done.attempts == 3


def test_s15_errors_outside_any_step_are_retried_with_their_own_budget(worker) -> None:  # S15
    done = _finish("s15/body")
    assert done.status == "failed" and done.error["message"] == "the body itself failed"
    assert CALLS["body"] == [0, 1, 2]
    assert CALLS["body-setup"] == [0]  # the completed step is replayed, not executed again
    assert done.attempts == 3

    done = _finish("s15/body-flaky")
    assert done.status == "completed" and done.output == "body ok"
    assert CALLS["body-flaky"] == [0, 1, 2] and done.attempts == 3


def test_s15_each_step_has_its_own_budget(worker) -> None:  # S15
    # retries=1 and two steps each failing once: a shared budget would fail the run at the second failure.
    done = _finish("s15/separate")
    assert done.status == "completed", done.error
    assert done.output == ["first ok", "second ok"]
    assert CALLS["first"] == [0, 1] and CALLS["second"] == [0, 1]
    assert [s.attempts for s in done.steps] == [2, 2]
    assert done.attempts == 2


def test_s15_attempts_counts_a_retry_that_a_checkpoint_stored(worker) -> None:  # S15
    # The retry of `first` is committed by the checkpoint before `second` runs; the end of that pass must not
    # write back the attempts the run had when it was claimed.
    done = _finish("s15/retried-then-more")
    assert done.status == "completed" and done.output == ["retried ok", "second ok"]
    assert [(s.attempts, s.status) for s in done.steps] == [(2, "completed"), (1, "completed")]
    assert done.attempts == 2


def test_s15_attempts_is_one_when_nothing_was_retried(worker) -> None:  # S15
    done = _finish("s15/clean")
    assert done.status == "completed" and done.attempts == 1
    assert set(CALLS["clean"]) == {0}
