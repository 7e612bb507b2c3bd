"""Functions for tests/integration/test_two_workers.py, loaded by `manage.py worker` subprocesses through the
env var RUNS_FUNCTION_MODULES. Each step execution appends `<label> <run id> <pid> <start> <end>` to the file
named in the event data, so the test sees who executed what, and when.
"""

from __future__ import annotations

import os
import time

from runs.sdk import App, Context
from tests.integration.effects import append_line

app = App("it-two-workers")

TRIGGER = "it-fleet/start"
STEP_SECONDS = 0.02  # long enough that two executions of one run at once would overlap visibly


def effect(path: str, label: str, run_id: str, value: int) -> int:
    started = time.time()
    time.sleep(STEP_SECONDS)
    append_line(path, label, run_id, os.getpid(), f"{started:.6f}", f"{time.time():.6f}")
    return value


@app.function(id="fleet-square", retries=0)
async def fleet_square(ctx: Context) -> int:
    data = ctx.event.data
    return await ctx.step.run("square", effect, data["path"], "child:square", ctx.run_id, data["n"] ** 2)


@app.function(id="fleet-parent", trigger=TRIGGER, retries=0)
async def fleet_parent(ctx: Context) -> int:
    data = ctx.event.data
    path, n = data["path"], data["n"]
    a = await ctx.step.run("a", effect, path, "parent:a", ctx.run_id, n)
    square = await ctx.step.invoke("square", function=fleet_square, data={"path": path, "n": n})
    return await ctx.step.run("b", effect, path, "parent:b", ctx.run_id, a + square)
