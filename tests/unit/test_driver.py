"""The in-process driver, without a database: what one pass plans and reports (S2, S7, S15, S16)."""

from __future__ import annotations

import asyncio
from typing import Any

from runs.engine import driver
from runs.engine.ops import (
    InvokePlanned,
    RunFailed,
    RunFinished,
    StepCompleted,
    StepFailed,
    StepMemo,
    Suspended,
)
from runs.engine.passes import Invocation
from runs.sdk import App, Context, NonRetriableError

app = App("unit-driver")


@app.function(id="leaf")
async def leaf(ctx: Context) -> int:
    return 1


@app.function(id="fan-out", retries=1)
async def fan_out(ctx: Context) -> list[Any]:
    return list(await asyncio.gather(*(ctx.step.invoke(f"child-{i}", function=leaf, data={"i": i})
                                       for i in range(3))))


@app.function(id="sync-fan-out")
def sync_fan_out(ctx: Context) -> list[Any]:
    return ctx.step.parallel([lambda i=i: ctx.step.invoke(f"child-{i}", function=leaf) for i in range(3)])


@app.function(id="two-steps", retries=2)
async def two_steps(ctx: Context) -> int:
    first = await ctx.step.run("first", lambda: 20)
    second = await ctx.step.run("second", _second)
    return first + second


def _second() -> int:
    if _second_fails:
        raise RuntimeError("boom")
    return 22


_second_fails = False


def invocation(memo: dict[str, StepMemo] | None = None, body_failures: int = 0) -> Invocation:
    return Invocation(run_id="R1", app_id="unit-driver", function_id="x", memo=memo or {},
                      event={"id": "E1", "name": "e", "data": {}, "user": {}, "ts": 0},
                      body_failures=body_failures, depth=0, retry_base_seconds=0.01, max_depth=100)


def run(function: Any, memo: dict[str, StepMemo] | None = None) -> tuple[Any, list[list[Any]]]:
    checkpoints: list[list[Any]] = []
    result = driver.execute(function, invocation(memo), checkpoints.append)
    return result, checkpoints


def test_s7_gather_plans_every_invoke_in_one_pass() -> None:
    result, _ = run(fan_out)
    assert isinstance(result.outcome, Suspended)
    assert [op.step_id for op in result.ops if isinstance(op, InvokePlanned)] == ["child-0", "child-1", "child-2"]


def test_s7_sync_parallel_plans_every_invoke_in_one_pass() -> None:
    result, _ = run(sync_fan_out)
    assert [op.step_id for op in result.ops if isinstance(op, InvokePlanned)] == ["child-0", "child-1", "child-2"]


def test_s7_results_come_back_in_argument_order() -> None:
    memo = {f"child-{i}": StepMemo(step_id=f"child-{i}", kind="invoke", status="completed", output=10 - i,
                                   target="unit-driver/leaf", position=i) for i in range(3)}
    result, _ = run(fan_out, memo)
    assert result.outcome == RunFinished(output=[10, 9, 8])


def test_s16_memoised_steps_are_not_executed_again() -> None:
    memo = {"first": StepMemo(step_id="first", kind="run", status="completed", output=100, position=0),
            "second": StepMemo(step_id="second", kind="run", status="completed", output=1, position=1)}
    result, checkpoints = run(two_steps, memo)
    assert result.outcome == RunFinished(output=101)
    assert result.ops == [] and checkpoints == []


def test_a_step_is_committed_before_the_next_side_effect_starts() -> None:
    result, checkpoints = run(two_steps)
    assert [[op.step_id for op in ops] for ops in checkpoints] == [["first"]]
    assert [op.step_id for op in result.ops] == ["second"]
    assert isinstance(result.outcome, RunFinished) and result.outcome.output == 42


def test_s15_a_failing_step_schedules_a_retry_then_fails_for_good() -> None:
    globals()["_second_fails"] = True
    try:
        memo = {"first": StepMemo(step_id="first", kind="run", status="completed", output=20, position=0)}
        result, _ = run(two_steps, memo)
        [failed] = result.ops
        assert isinstance(failed, StepFailed) and failed.retry_at is not None and failed.attempt == 1
        assert isinstance(result.outcome, Suspended)
        memo["second"] = StepMemo(step_id="second", kind="run", status="retrying", attempts=2, position=1)
        result, _ = run(two_steps, memo)
        [failed] = result.ops
        assert isinstance(failed, StepFailed) and failed.retry_at is None and failed.attempt == 3
        assert isinstance(result.outcome, RunFailed) and result.outcome.retry_at is None
        assert result.outcome.error["name"] == "RuntimeError"
    finally:
        globals()["_second_fails"] = False


def test_s16_a_changed_step_kind_fails_with_a_nondeterminism_error_naming_the_step() -> None:
    memo = {"first": StepMemo(step_id="first", kind="sleep", status="completed", output=None, position=0)}
    result, _ = run(two_steps, memo)
    assert isinstance(result.outcome, RunFailed) and result.outcome.retry_at is None
    assert result.outcome.error["name"] == "NondeterminismError"
    assert "'first'" in result.outcome.error["message"]


@app.function(id="catches-everything")
async def catches_everything(ctx: Context) -> str:
    try:
        await ctx.step.run("first", lambda: 1)
    except Exception:
        return "swallowed"
    return "ok"


def test_s16_nondeterminism_fails_the_run_even_if_user_code_catches_it() -> None:
    memo = {"first": StepMemo(step_id="first", kind="invoke", status="completed", output=1, position=0)}
    result, _ = run(catches_everything, memo)
    assert isinstance(result.outcome, RunFailed) and result.outcome.error["name"] == "NondeterminismError"


@app.function(id="non-retriable", retries=3)
async def non_retriable(ctx: Context) -> None:
    raise NonRetriableError("no point")


def test_s15_non_retriable_error_in_the_body_fails_at_once() -> None:
    result, _ = run(non_retriable)
    assert isinstance(result.outcome, RunFailed) and result.outcome.retry_at is None


@app.function(id="loop-ids")
async def loop_ids(ctx: Context) -> list[int]:
    return [await ctx.step.run("same", lambda i=i: i) for i in range(3)]


def test_s2_reused_step_ids_get_deterministic_suffixes() -> None:
    result, checkpoints = run(loop_ids)
    recorded = [op.step_id for ops in [*checkpoints, result.ops] for op in ops if isinstance(op, StepCompleted)]
    assert recorded == ["same", "same:1", "same:2"]
    assert result.outcome == RunFinished(output=[0, 1, 2])
