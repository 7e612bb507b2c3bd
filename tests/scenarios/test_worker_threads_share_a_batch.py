"""A worker's threads share the runs one claim took in a batch: they execute side by side, not one by one."""

from __future__ import annotations

import threading
import time

from runs import client
from runs.sdk import App, Context
from runs.sdk.app import all_functions
from runs.store.functions import sync_functions
from runs.testing import wait_for_run, worker
from tests.helpers import max_overlap

app = App("scenario-batch-sharing")
SPANS: list[tuple[float, float]] = []
LOCK = threading.Lock()


@app.function(id="slow-step", trigger="batch/slow", retries=0)
async def slow_step(ctx: Context) -> None:
    def work() -> None:
        started = time.monotonic()
        time.sleep(0.4)
        with LOCK:
            SPANS.append((started, time.monotonic()))

    await ctx.step.run("work", work)


def test_runs_claimed_in_one_batch_execute_on_several_threads(transactional_db, fast_retries) -> None:
    SPANS.clear()
    sync_functions(all_functions())
    # Sent before the worker starts, so its first claim takes a whole batch of them.
    event_ids = client.send_many([{"name": "batch/slow"} for _ in range(4)])
    with worker(threads=4) as running:
        assert running.claim_batch >= 4
        for event_id in event_ids:
            [run] = client.runs_for_event(event_id)
            assert wait_for_run(run.id).status == "completed"
    assert max_overlap(SPANS) >= 3
