"""Issue 11 item 1 (O5b): after an operator's retry each attempt keeps its own start, end and outcome (runs and invoke
steps), durations and the Functions percentiles come from attempts, and a run's reason ends with its state.

Store level, against the database the suite runs on (PostgreSQL with DATABASE_URL, else SQLite). The failed
chain is made to look ten minutes old before the retry (its timestamps moved back), so that a duration measured
across the retry (minutes) cannot pass for one measured per attempt (milliseconds).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from dashboard.pages import run_page
from dashboard.queries import function_stats
from runs import client
from runs.domain import RunInfo
from runs.models import Run, Step
from runs.sdk import App, Context
from runs.store import actions
from runs.testing import wait_for_run
from runs.worker import Worker

app = App("it-attempts")
FIXED = {"value": False}
AGO = timedelta(minutes=10)


@app.function(id="att-leaf", retries=0)
async def leaf(ctx: Context) -> int:
    def work() -> int:
        if not FIXED["value"]:
            raise RuntimeError("leaf is broken")
        return 1

    return await ctx.step.run("leaf-work", work)


@app.function(id="att-middle", retries=0)
async def middle(ctx: Context) -> int:
    return await ctx.step.invoke("call-leaf", function=leaf) + 1


@app.function(id="att-top", trigger="attempts/start", retries=0)
async def top(ctx: Context) -> int:
    return await ctx.step.invoke("call-middle", function=middle) + 1


@pytest.fixture(autouse=True)
def _reset() -> None:
    FIXED["value"] = False


def failed_chain() -> list[RunInfo]:
    """top -> middle -> leaf, failed because the leaf failed; top first."""
    [root] = client.runs_for_event(client.send("attempts/start"))
    chain = [wait_for_run(root.id)]
    while chain[-1].failure_cause_run_id:
        chain.append(wait_for_run(chain[-1].failure_cause_run_id))
    assert [run.function_id for run in chain] == ["att-top", "att-middle", "att-leaf"]
    assert all(run.status == "failed" for run in chain)
    return chain


def _shift(value: Any) -> Any:
    return (datetime.fromisoformat(value) - AGO).isoformat() if isinstance(value, str) and value else value


def age(chain: list[RunInfo]) -> None:
    """Move every timestamp of the failed chain AGO into the past: it failed ten minutes ago."""
    for run in Run.objects.filter(id__in=[r.id for r in chain]):
        Run.objects.filter(id=run.id).update(created_at=run.created_at - AGO, started_at=run.started_at - AGO,
                                             ended_at=run.ended_at - AGO)
    for step in Step.objects.filter(run_id__in=[r.id for r in chain]):
        history = [{key: _shift(value) if key.endswith("_at") else value for key, value in entry.items()}
                   for entry in step.history]
        Step.objects.filter(id=step.id).update(started_at=step.started_at - AGO, ended_at=step.ended_at - AGO,
                                               history=history)


def settled(run_id: str, timeout: float = 15.0) -> RunInfo:
    """The run once it has finished again after a retry (polled with a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.get_run(run_id)
        if run.is_terminal:
            return run
        assert time.monotonic() < deadline, f"run {run_id} is still {run.status}"
        time.sleep(0.02)


def api_run(run_id: str) -> dict[str, Any]:
    http = Client()
    http.force_login(User.objects.get_or_create(username="reader")[0])
    response = http.get(f"/api/runs/{run_id}")
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def _ms(start: datetime | None, end: datetime | None) -> float:
    assert start is not None and end is not None
    return (end - start).total_seconds() * 1000


@pytest.fixture
def stopped(transactional_db, fast_retries):  # type: ignore[no-untyped-def]
    """A worker the test starts and stops itself: the retry is made while no worker runs."""
    from runs import testing

    return testing.worker


def test_root_cause_retry_that_heals_keeps_each_attempt_and_ends_the_waiting_reason(stopped) -> None:  # type: ignore[no-untyped-def]
    with stopped():
        chain = failed_chain()
    age(chain)
    top_run, middle_run, leaf_run = (client.get_run(run.id) for run in chain)
    before = {run.id: (run.started_at, run.ended_at, run.error) for run in (top_run, middle_run, leaf_run)}
    [call_middle] = [s for s in top_run.steps if s.step_id == "call-middle"]

    FIXED["value"] = True
    retried_at = timezone.now()
    actions.retry_run(top_run.id, mode="root_cause")
    # While the root cause runs again, the ancestors wait on it, and say so.
    waiting = client.get_run(top_run.id)
    assert waiting.status == "waiting"
    assert waiting.status_reason == f"waiting on the retried root cause {leaf_run.id}"

    with stopped():
        healed = [settled(run.id) for run in chain]
    assert [run.status for run in healed] == ["completed"] * 3
    assert healed[0].output == 3
    for run in healed:
        # The state the reason described has ended: no reason, null over the JSON API.
        assert run.status_reason is None, (run.function_id, run.status_reason)
        assert api_run(run.id)["status_reason"] is None
        first, second = run.attempts_history
        started, ended, error = before[run.id]
        assert (first.attempt, first.status, first.started_at, first.ended_at) == (1, "failed", started, ended)
        assert first.error == error and first.reason is None
        assert second.attempt == 2 and second.status == "completed" and second.ended_at == run.ended_at
        assert second.started_at is not None and second.started_at >= retried_at
        # Each attempt's own duration: milliseconds, not the ten minutes between the failure and the retry.
        assert first.duration_ms is not None and first.duration_ms < 60_000
        assert second.duration_ms is not None and second.duration_ms < 60_000
        assert _ms(run.started_at, run.ended_at) >= AGO.total_seconds() * 1000  # the whole span, kept as such
    assert "root cause" in (healed[0].attempts_history[1].reason or "")
    assert [a["status"] for a in api_run(top_run.id)["attempts_history"]] == ["failed", "completed"]

    # The healed invoke step kept its failed first attempt (times, error, child) before it waited again.
    [call] = [s for s in healed[0].steps if s.step_id == "call-middle"]
    assert call.attempts == 2 and call.status == "completed"
    [earlier] = call.history
    assert earlier["attempt"] == 1 and earlier["status"] == "failed" and earlier["child_run_id"] == middle_run.id
    assert earlier["error"] == call_middle.error
    assert datetime.fromisoformat(earlier["started_at"]) == call_middle.started_at
    assert datetime.fromisoformat(earlier["ended_at"]) == call_middle.ended_at
    assert call.started_at >= retried_at and _ms(call.started_at, call.ended_at) < 60_000

    # The run page: per attempt, and the invoke step's execution is its attempts, not the ten minutes between.
    page = run_page(top_run.id)
    assert page.retried and page.attempt_count == 2
    [bar] = [b for b in page.bars if b.step.step_id == "call-middle"]
    assert [a.status for a in bar.attempts] == ["failed", "completed"]
    assert bar.executing_ms < 60_000 <= bar.waiting_ms

    # Functions: p50/p95 from each attempt's own duration.
    stats = {s.function_id: s for s in function_stats() if s.app_id == "it-attempts"}
    for function_id in ("att-top", "att-middle", "att-leaf"):
        assert stats[function_id].sampled == 2
        assert stats[function_id].p95_ms is not None and stats[function_id].p95_ms < 60_000, stats[function_id]


def test_root_cause_failing_again_records_both_failed_attempts_and_clears_the_reason(worker: Worker) -> None:
    chain = failed_chain()
    top_before = chain[0]
    actions.retry_run(chain[1].id, mode="root_cause")  # from the middle: the leaf is the root cause
    again = [settled(run.id) for run in chain]
    assert [run.status for run in again] == ["failed"] * 3
    for run in again:
        assert run.status_reason is None, (run.function_id, run.status_reason)
        first, second = run.attempts_history
        assert (first.status, second.status) == ("failed", "failed")
        assert first.ended_at is not None and second.started_at is not None and first.ended_at <= second.started_at
        assert second.ended_at == run.ended_at
    assert again[0].attempts_history[0].ended_at == top_before.ended_at
    [call] = [s for s in again[0].steps if s.step_id == "call-middle"]
    assert call.attempts == 2 and [entry["status"] for entry in call.history] == ["failed"]
    assert call.status == "failed" and call.error is not None


def test_retry_from_failure_keeps_the_failed_attempt_and_its_reason_ends_when_it_runs(stopped) -> None:  # type: ignore[no-untyped-def]
    with stopped():
        chain = failed_chain()
    leaf_failed = chain[-1]
    FIXED["value"] = True
    actions.retry_run(leaf_failed.id)
    queued = client.get_run(leaf_failed.id)
    assert queued.status == "queued" and queued.status_reason == "retried from its failed step"
    assert [a.status for a in queued.attempts_history] == ["failed", None]  # the second one goes on
    with stopped():
        done = settled(leaf_failed.id)
    assert done.status == "completed" and done.status_reason is None
    first, second = done.attempts_history
    assert (first.started_at, first.ended_at, first.status) == (leaf_failed.started_at, leaf_failed.ended_at,
                                                                  "failed")
    assert second.reason == "retried from its failed step" and second.status == "completed"
    assert client.get_run(chain[0].id).status == "failed"  # a plain retry heals nothing above it (O4)


def test_a_run_never_retried_has_one_attempt_and_no_reason(worker: Worker) -> None:
    FIXED["value"] = True
    [run] = client.runs_for_event(client.send("attempts/start"))
    done = wait_for_run(run.id)
    assert done.status == "completed" and done.status_reason is None
    [only] = done.attempts_history
    assert (only.attempt, only.status, only.started_at, only.ended_at) == (1, "completed", done.started_at,
                                                                           done.ended_at)
    assert Run.objects.get(id=run.id).attempts_history == []  # nothing stored until a retry
    assert not run_page(run.id).retried
