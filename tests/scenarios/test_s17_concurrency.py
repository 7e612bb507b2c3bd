"""S17: a concurrency limit (optionally keyed by an event field) caps how many runs execute at once; runs beyond
it stay queued and start in order as slots free; a run waiting on an invoke or a sleep holds no slot.
Also "no lost wake-ups": when a slot frees, the next queued run starts promptly (no poll-interval stall)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runs import client, testing
from runs.sdk import App, Concurrency, Context
from runs.testing import wait_for_run
from runs.worker import Worker
from tests.helpers import max_overlap, run_for, slot_gaps, wait_until

app = App("s17-concurrency-app")

WORK_SECONDS = 0.15
SPANS: list[tuple[str, float, float]] = []  # (label, start, end) of each step execution
SPANS_LOCK = threading.Lock()
GATE = threading.Event()
STARTED: list[int] = []


def _work(label: str, seconds: float = WORK_SECONDS) -> str:
    started = time.time()
    time.sleep(seconds)
    with SPANS_LOCK:
        SPANS.append((label, started, time.time()))
    return label


def _spans(prefix: str = "") -> list[tuple[float, float]]:
    with SPANS_LOCK:
        return [(start, end) for label, start, end in SPANS if label.startswith(prefix)]


@app.function(id="s17-limited", trigger="s17/limited", retries=0, concurrency=Concurrency(limit=2))
async def limited(ctx: Context) -> str:
    return await ctx.step.run("work", _work, "limited")


@app.function(id="s17-keyed", trigger="s17/keyed", retries=0,
              concurrency=Concurrency(limit=1, key="event.data.k"))
async def keyed(ctx: Context) -> str:
    return await ctx.step.run("work", _work, f"keyed:{ctx.event.data['k']}")


@app.function(id="s17-self-invoker", trigger="s17/self", retries=0, concurrency=Concurrency(limit=1))
async def self_invoker(ctx: Context) -> Any:
    if ctx.event.data.get("child"):
        return await ctx.step.run("child-work", lambda: "child done")
    below = await ctx.step.invoke("myself", function=self_invoker, data={"child": True}, timeout="20s")
    return {"parent got": below}


@app.function(id="s17-napper", trigger="s17/nap", retries=0, concurrency=Concurrency(limit=1))
async def napper(ctx: Context) -> str:
    await ctx.step.run("before", _work, f"nap-before:{ctx.event.data['n']}", 0.01)
    await ctx.step.sleep("nap", "700ms")
    return await ctx.step.run("after", _work, f"nap-after:{ctx.event.data['n']}", 0.01)


def _gated(n: int) -> int:
    STARTED.append(n)
    GATE.wait(10)
    return n


@app.function(id="s17-in-order", trigger="s17/in-order", retries=0, concurrency=Concurrency(limit=1))
async def in_order(ctx: Context) -> int:
    return await ctx.step.run("gated", _gated, ctx.event.data["n"])


@pytest.fixture
def four_threads(transactional_db, fast_retries) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    SPANS.clear()
    STARTED.clear()
    GATE.clear()
    with testing.worker(threads=4) as running:
        assert running.threads >= 2  # a one-at-a-time worker could never show an overlap of 2
        yield running
    GATE.set()


def test_s17_limit_two_overlaps_exactly_two_and_slots_refill_promptly(four_threads) -> None:  # S17
    runs = 12
    event_ids = client.send_many([{"name": "s17/limited", "data": {"i": i}} for i in range(runs)])
    run_ids = [run.id for event_id in event_ids for run in client.runs_for_event(event_id)]
    for run_id in run_ids:
        assert wait_for_run(run_id, timeout=30).status == "completed"
    spans = _spans("limited")
    assert len(spans) == runs
    # Exactly 2: 1 would mean one run at a time, 3+ that the limit was ignored (4 threads, 12 runs ready).
    assert max_overlap(spans) == 2
    # No lost wake-ups: every freed slot is taken again well within the idle poll (2 s) of the worker.
    gaps = slot_gaps(spans)
    assert len(gaps) == runs - 2
    print(f"S17 slot refill gaps: max {max(gaps) * 1000:.1f} ms, mean {sum(gaps) / len(gaps) * 1000:.1f} ms")
    assert max(gaps) < 0.5, gaps


def test_s17_keyed_limit_holds_per_key_and_keys_run_in_parallel(four_threads) -> None:  # S17
    events = [{"name": "s17/keyed", "data": {"k": k, "i": i}} for i in range(3) for k in ("a", "b")]
    run_ids = [run.id for event_id in client.send_many(events) for run in client.runs_for_event(event_id)]
    for run_id in run_ids:
        assert wait_for_run(run_id, timeout=30).status == "completed"
    assert max_overlap(_spans("keyed:a")) == 1
    assert max_overlap(_spans("keyed:b")) == 1
    assert max_overlap(_spans("keyed:")) == 2  # different keys are limited separately


def test_s17_a_limit_one_function_that_invokes_itself_finishes(four_threads) -> None:  # S17
    parent = wait_for_run(run_for("s17/self").id, timeout=15)
    assert parent.status == "completed", parent.error
    assert parent.output == {"parent got": "child done"}


def test_s17_a_sleeping_run_holds_no_slot(four_threads) -> None:  # S17
    first = run_for("s17/nap", {"n": 1}).id
    second = run_for("s17/nap", {"n": 2}).id
    assert wait_for_run(first, timeout=15).status == "completed"
    assert wait_for_run(second, timeout=15).status == "completed"
    with SPANS_LOCK:
        order = [label for label, *_ in sorted(SPANS, key=lambda span: span[1])]
    # Both went to sleep before either woke: the sleeper's slot went to the other run meanwhile.
    assert order[:2] == ["nap-before:1", "nap-before:2"], order


def test_s17_runs_beyond_the_limit_stay_queued_and_start_in_order(four_threads) -> None:  # S17
    first = run_for("s17/in-order", {"n": 0}).id
    wait_until(lambda: list(STARTED), lambda started: started == [0], what="first run started")
    later = []
    for n in range(1, 6):
        time.sleep(0.005)  # distinct creation times: the order to keep is the order of arrival
        later.append(run_for("s17/in-order", {"n": n}).id)
    time.sleep(0.3)  # the idle threads claim and give back what they cannot start
    assert [client.get_run(run_id).status for run_id in later] == ["queued"] * 5
    assert all(client.get_run(run_id).started_at is None for run_id in later)
    assert STARTED == [0]
    GATE.set()
    for run_id in [first, *later]:
        assert wait_for_run(run_id, timeout=15).status == "completed"
    assert STARTED == [0, 1, 2, 3, 4, 5]
