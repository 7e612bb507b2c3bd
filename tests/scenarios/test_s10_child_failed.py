"""S10: a child that failed after all its own retries fails the parent's invoke step with the child's error.

The parent is not retried (no compounding): A->B->C->D with retries=2 each runs D 3 times, A, B, C once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from runs import client
from runs.sdk import App, Context, StepError
from runs.testing import wait_for_run

app = App("s10-child-failed-app")

EXECUTED: Counter[str] = Counter()  # executions of each function's side-effecting step
SEEN: dict[str, dict[str, Any]] = {}  # what each parent's invoke raised


class InventoryError(Exception):
    pass


def _note(name: str) -> str:
    EXECUTED[name] += 1
    return name


async def _invoke_and_note(ctx: Context, name: str, child: Any) -> Any:
    await ctx.step.run(f"{name}-before", _note, name)
    try:
        return await ctx.step.invoke(f"call-{child.function_id}", function=child)
    except StepError as exc:
        SEEN[name] = {"type": type(exc), "name": exc.name, "message": exc.message, "stack": exc.stack,
                      "run_id": exc.run_id}
        raise


def _fail_always() -> None:
    EXECUTED["d"] += 1
    raise InventoryError("warehouse 7 is on fire")


@app.function(id="s10-d", retries=2)
async def fn_d(ctx: Context) -> None:
    await ctx.step.run("d-work", _fail_always)


@app.function(id="s10-c", retries=2)
async def fn_c(ctx: Context) -> Any:
    return await _invoke_and_note(ctx, "c", fn_d)


@app.function(id="s10-b", retries=2)
async def fn_b(ctx: Context) -> Any:
    return await _invoke_and_note(ctx, "b", fn_c)


@app.function(id="s10-a", trigger="s10/chain", retries=2)
async def fn_a(ctx: Context) -> Any:
    return await _invoke_and_note(ctx, "a", fn_b)


@app.function(id="s10-fails-fast", retries=0)
def fails_fast(ctx: Context) -> None:
    raise InventoryError(f"no stock for {ctx.event.data['sku']}")


@app.function(id="s10-catches", trigger="s10/catch")
async def catches(ctx: Context) -> dict[str, Any]:
    try:
        await ctx.step.invoke("try-order", function=fails_fast, data={"sku": "X-1"})
    except StepError as exc:
        fallback = await ctx.step.run("fallback", lambda: "backordered")
        return {"caught": exc.name, "message": exc.message, "child": exc.run_id, "then": fallback}
    return {"caught": None}


def test_s10_chain_runs_the_failing_leaf_three_times_and_each_parent_once(worker) -> None:  # S10
    EXECUTED.clear()
    SEEN.clear()
    [root] = client.runs_for_event(client.send("s10/chain"))
    a = wait_for_run(root.id, timeout=30)
    assert a.status == "failed"
    b = client.get_run(a.steps[-1].child_run_id)  # type: ignore[arg-type]
    c = client.get_run(b.steps[-1].child_run_id)  # type: ignore[arg-type]
    d = client.get_run(c.steps[-1].child_run_id)  # type: ignore[arg-type]
    assert [r.function_id for r in (a, b, c, d)] == ["s10-a", "s10-b", "s10-c", "s10-d"]
    assert all(r.status == "failed" for r in (a, b, c, d))

    # retries=2: D's step ran its first attempt and 2 retries; nobody above it retried (no compounding).
    assert EXECUTED == {"d": 3, "a": 1, "b": 1, "c": 1}
    assert d.attempts == 3 and d.steps[0].attempts == 3
    assert (a.attempts, b.attempts, c.attempts) == (1, 1, 1)
    assert [len(client.list_runs(parent_run_id=r.id)) for r in (a, b, c, d)] == [1, 1, 1, 0]

    # Every parent sees the child's error: name, message, stack and the child's run id.
    assert d.error is not None and d.error["name"] == "InventoryError"
    assert d.error["message"] == "warehouse 7 is on fire" and "InventoryError" in d.error["stack"]
    for parent, child in (("c", d), ("b", c), ("a", b)):
        seen = SEEN[parent]
        assert issubclass(seen["type"], StepError)
        assert seen["name"] == "InventoryError" and seen["message"] == "warehouse 7 is on fire"
        assert seen["stack"] and "warehouse 7 is on fire" in seen["stack"]
        assert seen["run_id"] == child.id
    for run in (a, b, c):
        assert run.error is not None and run.error["name"] == "InventoryError"
        assert run.steps[-1].error is not None and run.steps[-1].error["message"] == "warehouse 7 is on fire"

    # O2: the failure is one incident; D is the root cause.
    assert (a.failure_cause_run_id, b.failure_cause_run_id, c.failure_cause_run_id) == (b.id, c.id, d.id)
    assert d.failure_cause_run_id is None


def test_s10_a_caught_step_error_lets_the_parent_go_on(worker) -> None:  # S10
    [run] = client.runs_for_event(client.send("s10/catch"))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    child = client.get_run(done.steps[0].child_run_id)  # type: ignore[arg-type]
    assert child.status == "failed" and child.attempts == 1
    assert done.output == {"caught": "InventoryError", "message": "no stock for X-1", "child": child.id,
                           "then": "backordered"}
    assert done.failure_cause_run_id is None
