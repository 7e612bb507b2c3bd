"""S5: every SDK duration takes int milliseconds, a string ("1h", "30 mins", "2.5d", "90s"), a timedelta or a
datetime (absolute); an invoke's timeout defaults to 1 year and, when it passes, fails the step with a
non-retriable InvokeTimeoutError while the child keeps running."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from runs import client
from runs.sdk import App, Context, InvokeTimeoutError
from runs.sdk.durations import ONE_YEAR, deadline, parse_duration
from runs.testing import wait_for_run

app = App("scenario-s5-app")

# --- the duration forms (unit) ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (500, timedelta(milliseconds=500)),
    (0, timedelta(0)),
    ("1h", timedelta(hours=1)),
    ("30 mins", timedelta(minutes=30)),
    ("2.5d", timedelta(days=2, hours=12)),
    ("90s", timedelta(seconds=90)),
    ("200ms", timedelta(milliseconds=200)),
    ("1 hour", timedelta(hours=1)),
    ("2 days", timedelta(days=2)),
    (timedelta(minutes=3), timedelta(minutes=3)),
])
def test_s5_duration_forms(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "soon", "5 parsecs", "1h30x", "h", "1.2.3s"])
def test_s5_bad_duration_strings_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_s5_bool_is_not_a_duration() -> None:
    with pytest.raises(TypeError):
        parse_duration(True)


def test_s5_deadline_of_each_form() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    assert deadline(1500, start) == start + timedelta(seconds=1.5)
    assert deadline("90s", start) == start + timedelta(seconds=90)
    assert deadline(timedelta(hours=2), start) == start + timedelta(hours=2)
    absolute = datetime(2031, 6, 1, 12, tzinfo=UTC)
    assert deadline(absolute, start) == absolute  # a datetime is an absolute deadline, not a duration
    assert deadline(datetime(2031, 6, 1, 12), start) == absolute  # naive datetimes are UTC
    assert deadline(None, start) == start + ONE_YEAR  # the default: 1 year
    assert timedelta(days=365) <= ONE_YEAR


# --- sleeps and timeouts in the engine -------------------------------------------------------------------


@app.function(id="s5-quick", retries=0)
async def quick(ctx: Context) -> str:
    return "quick"


@app.function(id="s5-sleeper", trigger="s5/sleep")
async def sleeper(ctx: Context) -> dict:
    t0 = await ctx.step.run("t0", time.time)
    await ctx.step.sleep("short", "200ms")
    t1 = await ctx.step.run("t1", time.time)
    # The target is derived from a memoised value, so every replay plans the same instant.
    await ctx.step.sleep_until("until", datetime.fromtimestamp(t1 + 0.3, UTC))
    t2 = await ctx.step.run("t2", time.time)
    await ctx.step.sleep("as-int", 50)
    await ctx.step.sleep("as-timedelta", timedelta(milliseconds=50))
    done = await ctx.step.invoke("no-timeout", function=quick)
    return {"t0": t0, "t1": t1, "t2": t2, "done": done}


@app.function(id="s5-sync-sleeper", trigger="s5/sync-sleep")
def sync_sleeper(ctx: Context) -> float:
    t0 = ctx.step.run("t0", time.time)
    ctx.step.sleep("short", "150 ms")
    return ctx.step.run("t1", time.time) - t0


def test_s5_sleep_and_sleep_until_wait_at_least_their_duration(worker) -> None:
    [run] = client.runs_for_event(client.send("s5/sleep"))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    out = done.output
    assert out["t1"] - out["t0"] >= 0.2
    assert out["t2"] >= out["t1"] + 0.3 - 0.002  # sleep_until: not before the absolute time
    assert out["done"] == "quick"
    steps = {s.step_id: s for s in done.steps}
    assert [steps[k].kind for k in ("short", "until", "as-int", "as-timedelta")] == ["sleep"] * 4
    assert all(steps[k].status == "completed" for k in steps)
    # An invoke without a timeout waits up to the default of one year.
    invoke = steps["no-timeout"]
    assert invoke.deadline - invoke.started_at >= timedelta(days=365) - timedelta(seconds=5)


def test_s5_sync_function_sleeps_too(worker) -> None:
    [run] = client.runs_for_event(client.send("s5/sync-sleep"))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output >= 0.15


@app.function(id="s5-slow", retries=0)
async def slow(ctx: Context) -> str:
    await ctx.step.sleep("slowly", "1500ms")
    return "finished late"


_TIMEOUTS: dict[str, object] = {
    "int": 300,
    "string": "300ms",
    "timedelta": timedelta(milliseconds=300),
}


@app.function(id="s5-impatient", trigger="s5/impatient", retries=3)
async def impatient(ctx: Context) -> dict:
    kind = ctx.event.data["kind"]
    timeout = (datetime.fromtimestamp(ctx.event.data["deadline"], UTC) if kind == "datetime"
               else _TIMEOUTS[kind])
    try:
        await ctx.step.invoke("slow-call", function=slow, timeout=timeout)  # type: ignore[arg-type]
    except InvokeTimeoutError as exc:
        return {"timed_out": True, "name": exc.name, "child": exc.run_id, "message": exc.message}
    return {"timed_out": False}


@pytest.mark.parametrize("kind", ["int", "string", "timedelta", "datetime"])
def test_s5_invoke_timeout_fails_the_step_and_the_child_keeps_running(worker, kind: str) -> None:
    started = time.time()
    [run] = client.runs_for_event(client.send("s5/impatient", {"kind": kind, "deadline": started + 0.3}))
    done = wait_for_run(run.id)
    assert done.status == "completed", done.error
    assert done.output["timed_out"] is True
    assert done.output["name"] == "InvokeTimeoutError"
    [step] = done.steps
    assert step.status == "failed" and step.error["type"] == "InvokeTimeoutError"
    assert step.attempts == 1  # non-retriable although the parent has retries=3
    child_id = step.child_run_id
    assert done.output["child"] == child_id
    # The parent went on after ~300 ms while the child (sleeping 1.5 s) still runs ...
    child_now = client.get_run(child_id)
    assert child_now.status in ("queued", "running", "waiting"), child_now.status
    # ... and the child finishes on its own afterwards.
    child = wait_for_run(child_id)
    assert child.status == "completed" and child.output == "finished late"
    # The late result does not reopen the parent's failed step.
    after = client.get_run(done.id)
    assert after.status == "completed" and after.output == done.output
    assert after.steps[0].status == "failed"
    assert len(client.list_runs(parent_run_id=done.id)) == 1
