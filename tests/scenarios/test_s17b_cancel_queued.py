"""S17b: every run not yet finished can be cancelled: queued (also one held back by a concurrency limit, or
delayed by debounce), running and waiting. A cancelled run never executes another step, and a run held back
behind it is not blocked by it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from runs import client, testing
from runs.models import Run
from runs.sdk import App, Concurrency, Context, Debounce
from runs.testing import wait_for_run
from runs.worker import Worker
from tests.helpers import run_for, wait_until

app = App("s17b-cancel-queued-app")

EXECUTED: Counter[str] = Counter()
GATE = threading.Event()


def _note(label: str) -> str:
    EXECUTED[label] += 1
    return label


def _held(label: str) -> str:
    EXECUTED[label] += 1
    GATE.wait(10)
    return label


@app.function(id="s17b-one-at-a-time", trigger="s17b/limited", retries=0, concurrency=Concurrency(limit=1))
async def one_at_a_time(ctx: Context) -> str:
    n = ctx.event.data["n"]
    await ctx.step.run("first", _held, f"first:{n}")
    return await ctx.step.run("second", _note, f"second:{n}")


@app.function(id="s17b-debounced", trigger="s17b/debounced", retries=0, debounce=Debounce(period="1h"))
async def debounced(ctx: Context) -> str:
    return _note("debounced")


@app.function(id="s17b-sleeper", trigger="s17b/sleep", retries=0, concurrency=Concurrency(limit=1))
async def sleeper(ctx: Context) -> str:
    await ctx.step.run("before", _note, "before-nap")
    await ctx.step.sleep("nap", "1h")
    return _note("after-nap")


@pytest.fixture
def fresh(transactional_db, fast_retries) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    EXECUTED.clear()
    GATE.clear()
    with testing.worker(threads=4) as running:
        yield running
    GATE.set()


def test_s17b_running_and_throttled_queued_runs_can_be_cancelled(fresh) -> None:  # S17b, S17
    running = run_for("s17b/limited", {"n": 1}).id
    wait_until(lambda: dict(EXECUTED), lambda seen: seen == {"first:1": 1}, what="first run executing")
    held_back = run_for("s17b/limited", {"n": 2}).id
    behind = run_for("s17b/limited", {"n": 3}).id
    # Both wait for the slot (the idle threads try them and give them back): queued, never started.
    wait_until(lambda: Run.objects.get(id=held_back), lambda row: row.throttled, what="run 2 throttled")
    assert client.get_run(held_back).status == "queued"

    assert client.cancel_run(held_back).status == "cancelled"
    assert client.cancel_run(running).status == "cancelled"  # running: stops at its next step boundary
    GATE.set()
    # The cancelled queued run is not woken by the freed slot; the one behind it gets the slot.
    done = wait_for_run(behind, timeout=10)
    assert done.status == "completed" and done.output == "second:3"
    assert client.get_run(running).status == "cancelled"
    assert client.get_run(held_back).status == "cancelled"
    assert client.get_run(held_back).started_at is None
    assert EXECUTED == {"first:1": 1, "first:3": 1, "second:3": 1}  # neither 'second:1' nor anything of run 2


def test_s17b_a_debounced_queued_run_can_be_cancelled(fresh) -> None:  # S17b, S19
    run = run_for("s17b/debounced")
    assert run.status == "queued"
    assert client.cancel_run(run.id).status == "cancelled"
    # A later event starts a new debounce (it does not supersede the cancelled run).
    later = run_for("s17b/debounced")
    assert client.get_run(run.id).status == "cancelled"
    assert client.get_run(run.id).status_reason.startswith("cancelled")
    assert client.get_run(later.id).status == "queued"
    assert Run.objects.get(id=run.id).superseded_by_run_id is None
    assert EXECUTED == {}


def test_s17b_a_waiting_run_can_be_cancelled_and_frees_nothing_it_did_not_hold(fresh) -> None:  # S17b
    napping = run_for("s17b/sleep").id
    wait_until(lambda: client.get_run(napping), lambda r: r.status == "waiting", what="asleep")
    assert client.cancel_run(napping).status == "cancelled"
    assert EXECUTED == {"before-nap": 1}
    another = run_for("s17b/sleep").id
    wait_until(lambda: client.get_run(another), lambda r: r.status == "waiting", what="second asleep")
    assert EXECUTED == {"before-nap": 2}
    client.cancel_run(another)
