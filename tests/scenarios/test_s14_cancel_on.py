"""S14 via cancel-on rules (and S17b): an incoming event cancels the queued, running and waiting runs of a
function whose events agree with it on the rule's `match` field, and no others; a cancelled run finishes no
further step; a parent waiting on a cancelled child gets InvokeCancelledError; the rule's `timeout` bounds how
long after a run's start the rule applies."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from runs import client, testing
from runs.models import Run
from runs.sdk import App, Cancel, Concurrency, Context, InvokeCancelledError
from runs.testing import wait_for_run
from runs.worker import Worker
from tests.helpers import run_for, wait_until

app = App("s14-cancel-on-app")

EXECUTED: Counter[str] = Counter()
GATE = threading.Event()


def _note(label: str) -> str:
    EXECUTED[label] += 1
    return label


def _held(label: str) -> str:
    EXECUTED[label] += 1
    GATE.wait(10)
    return label


@app.function(id="s14c-target", trigger="s14c/start", retries=0, concurrency=Concurrency(limit=1),
              cancel_on=[Cancel(event="s14c/stop", match="data.id")])
async def target(ctx: Context) -> str:
    data = ctx.event.data
    label = f"{data['id']}"
    if data.get("mode") == "run":
        await ctx.step.run("first", _held, f"first:{label}")
    elif data.get("mode") == "wait":
        await ctx.step.run("first", _note, f"first:{label}")
        await ctx.step.sleep("nap", "1h")
    return await ctx.step.run("last", _note, f"last:{label}")


@app.function(id="s14c-parent", trigger="s14c/parent", retries=3)
async def parent(ctx: Context) -> dict[str, Any]:
    try:
        await ctx.step.invoke("call", function=target, data={"id": ctx.event.data["id"], "mode": "wait"})
    except InvokeCancelledError as exc:
        return {"caught": type(exc).__name__, "child": exc.run_id, "message": exc.message}
    return {"caught": None}


@app.function(id="s14c-short-rule", trigger="s14c/short", retries=0,
              cancel_on=[Cancel(event="s14c/stop-short", match="data.id", timeout="800ms")])
async def short_rule(ctx: Context) -> None:
    await ctx.step.sleep("nap", "1h")


@pytest.fixture
def fresh(transactional_db, fast_retries) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    EXECUTED.clear()
    GATE.clear()
    with testing.worker(threads=4) as running:
        yield running
    GATE.set()


def _status(run_id: str) -> str:
    return client.get_run(run_id).status


def test_s14_cancel_on_cancels_queued_running_and_waiting_runs_that_match(fresh) -> None:  # S14, S17b
    waiting = run_for("s14c/start", {"id": "w", "mode": "wait"}).id
    other_waiting = run_for("s14c/start", {"id": "x", "mode": "wait"}).id
    for run_id in (waiting, other_waiting):
        wait_until(partial(_status, run_id), lambda s: s == "waiting", what="asleep")
    running = run_for("s14c/start", {"id": "r", "mode": "run"}).id
    wait_until(lambda: EXECUTED["first:r"], lambda n: n == 1, what="running")
    queued = run_for("s14c/start", {"id": "q"}).id  # behind the running one (limit 1)
    other_queued = run_for("s14c/start", {"id": "y"}).id
    wait_until(lambda: Run.objects.get(id=queued).throttled, bool, what="queued run throttled")
    assert _status(queued) == "queued" and _status(running) == "running"

    client.send_many([{"name": "s14c/stop", "data": {"id": key}} for key in ("w", "r", "q")])
    for run_id in (waiting, running, queued):
        info = client.get_run(run_id)
        assert info.status == "cancelled", (run_id, info.status)
        assert info.status_reason.startswith("cancelled by event s14c/stop")
    GATE.set()  # the running run's step returns; it must not go on to its next step
    assert wait_for_run(other_queued, timeout=10).status == "completed"
    time.sleep(0.2)
    assert _status(other_waiting) == "waiting"  # another id: untouched
    assert _status(running) == "cancelled" and _status(queued) == "cancelled"
    assert EXECUTED == {"first:w": 1, "first:x": 1, "first:r": 1, "last:y": 1}
    client.cancel_run(other_waiting)


def test_s14_a_parent_waiting_on_a_child_cancelled_by_an_event_gets_invoke_cancelled(fresh) -> None:  # S14
    parent_id = run_for("s14c/parent", {"id": "p"}).id
    info = wait_until(lambda: client.get_run(parent_id), lambda r: bool(r.steps and r.steps[0].child_run_id),
                      what="invoke recorded")
    child_id = info.steps[0].child_run_id
    wait_until(lambda: _status(child_id), lambda s: s == "waiting", what="child asleep")  # type: ignore[arg-type]
    client.send("s14c/stop", {"id": "p"})
    done = wait_for_run(parent_id, timeout=10)
    assert done.status == "completed", done.error
    assert done.output["caught"] == "InvokeCancelledError" and done.output["child"] == child_id
    assert "invoked function was cancelled" in done.output["message"]
    assert _status(child_id) == "cancelled"  # type: ignore[arg-type]


def test_s14_the_rule_applies_only_within_its_timeout(fresh) -> None:  # S14
    old = run_for("s14c/short", {"id": 1}).id
    wait_until(lambda: _status(old), lambda s: s == "waiting", what="old asleep")
    time.sleep(1.0)  # past the rule's 800 ms for the old run
    young = run_for("s14c/short", {"id": 1}).id
    client.send("s14c/stop-short", {"id": 1})
    assert _status(young) == "cancelled"
    assert _status(old) == "waiting"
    client.cancel_run(old)
