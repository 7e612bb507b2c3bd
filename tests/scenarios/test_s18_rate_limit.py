"""S18: a rate limit lets at most `limit` runs start per `period` per key; the others are stored `skipped` with
a reason and never execute. A missing key field is its own key value (None), not an error."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from runs import client
from runs.sdk import App, Context, RateLimit
from runs.testing import wait_for_run
from tests.helpers import run_for

app = App("s18-rate-limit-app")

EXECUTED: Counter[str] = Counter()


@app.function(id="s18-per-key", trigger="s18/keyed", retries=0,
              rate_limit=RateLimit(limit=2, period="1h", key="event.data.k"))
async def per_key(ctx: Context) -> str:
    label = f"k={ctx.event.data.get('k', '<missing>')}"
    EXECUTED[label] += 1
    return label


@app.function(id="s18-short-period", trigger="s18/short", retries=0, rate_limit=RateLimit(limit=1, period="1s"))
async def short_period(ctx: Context) -> int:
    EXECUTED["short"] += 1
    return int(ctx.event.data["n"])


def test_s18_at_most_limit_runs_per_key_the_rest_skipped_with_a_reason(worker) -> None:  # S18
    EXECUTED.clear()
    events: list[dict[str, Any]] = ([{"name": "s18/keyed", "data": {"k": "a", "i": i}} for i in range(5)]
              + [{"name": "s18/keyed", "data": {"k": "b", "i": i}} for i in range(3)]
              + [{"name": "s18/keyed", "data": {"i": i}} for i in range(3)])  # no key field: key None
    runs = [run for event_id in client.send_many(events) for run in client.runs_for_event(event_id)]
    assert len(runs) == 11  # every event is recorded as a run, admitted or skipped
    done = [wait_for_run(run.id) for run in runs]
    by_key: dict[str, Counter[str]] = {}
    for event, run in zip(events, done, strict=True):
        by_key.setdefault(str(event["data"].get("k")), Counter())[run.status] += 1
    assert by_key == {"a": {"completed": 2, "skipped": 3}, "b": {"completed": 2, "skipped": 1},
                      "None": {"completed": 2, "skipped": 1}}
    # The first ones of each key got in (in order of arrival); a skipped run never executed.
    assert [run.status for run in done[:5]] == ["completed", "completed", "skipped", "skipped", "skipped"]
    assert EXECUTED == {"k=a": 2, "k=b": 2, "k=<missing>": 2}
    for run in done:
        if run.status == "skipped":
            assert "rate limited" in run.status_reason
            assert run.started_at is None and run.steps == [] and run.output is None
        else:
            assert run.status_reason is None  # no reason: null, as the API contract has it


def test_s18_the_limit_applies_per_period(worker) -> None:  # S18
    EXECUTED.clear()
    first = run_for("s18/short", {"n": 1})
    second = run_for("s18/short", {"n": 2})  # same period: skipped at once, at intake
    assert second.status == "skipped" and "rate limited" in second.status_reason
    assert wait_for_run(first.id).output == 1
    time.sleep(1.1)  # the period has passed
    third = run_for("s18/short", {"n": 3})
    assert wait_for_run(third.id).status == "completed"
    assert EXECUTED == {"short": 2}
